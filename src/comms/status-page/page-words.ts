/**
 * The status page's words, shared by the page (status-page.ts) and its Statuspage v2 JSON
 * (statuspage-json.ts): statuses, impacts, and a component as both show it.
 */
import crypto from 'node:crypto';
import type { StatusComponentConfig, StatusPageConfig } from '../../config/status-page-schema.js';
import type { ComponentStatus, Override } from './derive.js';

/** A page incident's statuses, in Statuspage's words. */
export const INCIDENT_STATUSES = [
  'investigating',
  'identified',
  'monitoring',
  'resolved',
  'postmortem',
] as const;
/** A scheduled maintenance's statuses. */
export const MAINTENANCE_STATUSES = ['scheduled', 'in_progress', 'verifying', 'completed'] as const;
/** Impacts an incident may have. */
export const IMPACTS = ['none', 'minor', 'major', 'critical'] as const;
/** Incident statuses that are over. */
export const RESOLVED_STATUSES: readonly string[] = ['resolved', 'postmortem'];
/** Maintenance statuses that put their components under maintenance (Statuspage's "active"). */
export const ACTIVE_MAINTENANCE: readonly string[] = ['in_progress', 'verifying'];

/** The page's configuration, when it has one. */
export type PageConfig = NonNullable<StatusPageConfig>;

/** One component as the admin API and the page show it. */
export interface ComponentView {
  id: string;
  name: string;
  description: string | null;
  group: string | null;
  position: number;
  onlyShowIfDegraded: boolean;
  showcase: boolean;
  services: string[];
  /** The units it shows now (a service's environments spelled out). */
  units: string[];
  /** Whether this replica sees any of its units' instances (with one replica, always). */
  known: boolean;
  derived: ComponentStatus;
  override: (Override & { reason: string | null; setBy: string; setAt: number }) | null;
  status: ComponentStatus;
  /** When its status was first and last recorded; null before the first record. */
  createdAt: number | null;
  updatedAt: number | null;
}

/** 12 lowercase base-36 characters of a SHA-256. */
export function shortHash(text: string): string {
  const digest = crypto.createHash('sha256').update(text).digest();
  return BigInt(`0x${digest.subarray(0, 10).toString('hex')}`)
    .toString(36)
    .padStart(12, '0')
    .slice(-12);
}

/** A component's id: as configured, else 12 characters derived from its name (stable while the name is). */
export function componentId(component: StatusComponentConfig): string {
  if (component.id !== undefined) return component.id;
  return shortHash(`component:${component.name.toLowerCase()}`);
}
