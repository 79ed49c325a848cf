import type { InstanceRecord, InstanceRecordStore } from '../../../store/types.js';

/** An `InstanceRecordStore` held in memory, for tests: records survive a fleet, not the process. */
export class MemoryInstanceRecordStore implements InstanceRecordStore {
  private readonly records = new Map<string, InstanceRecord>();

  /** Copies of the records of `service`, so callers cannot change what is stored. */
  async listInstances(service: string): Promise<InstanceRecord[]> {
    return [...this.records.values()].filter((record) => record.service === service).map((r) => ({ ...r }));
  }

  /** Inserts or replaces the record with the same id. */
  async saveInstance(record: InstanceRecord): Promise<void> {
    this.records.set(record.id, { ...record });
  }

  /** Removes the record; a missing id is not an error. */
  async deleteInstance(id: string): Promise<void> {
    this.records.delete(id);
  }
}
