import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './e2e/harness.js';

const SRC = path.join(ROOT, 'src');
const RELATIVE_IMPORT = /^(?:import|export)[^;]*?from '(\.[^']+)';/gms;

/** Every module under src/ (tests aside) and the modules of ours it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.test.ts')) {
        const text = fs.readFileSync(file, 'utf8');
        const deps = [...text.matchAll(RELATIVE_IMPORT)].map((m) => {
          const dep = path.resolve(path.dirname(file), (m[1] ?? '').replace(/\.js$/, '.ts'));
          // The dashboard's components are .tsx files, imported as .js like every module.
          return fs.existsSync(dep) || !fs.existsSync(`${dep}x`) ? dep : `${dep}x`;
        });
        graph.set(file, deps);
      }
    }
  };
  walk(SRC);
  return graph;
}

/** One import cycle, as the chain of files relative to src/, or undefined when there is none. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const done = new Set<string>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (file: string): string[] | undefined => {
    if (onStack.has(file)) return [...stack.slice(stack.indexOf(file)), file];
    if (done.has(file) || !graph.has(file)) return undefined;
    stack.push(file);
    onStack.add(file);
    for (const dep of graph.get(file) ?? []) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    stack.pop();
    onStack.delete(file);
    done.add(file);
    return undefined;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle) return cycle.map((f) => path.relative(SRC, f));
  }
  return undefined;
}

describe('the layout of src/', () => {
  it('has no import cycle, type-only imports included', () => {
    expect(findCycle(importGraph())).toBeUndefined();
  });

  it('keeps the dashboard a client: src/web imports nothing of the server, and nothing imports it', () => {
    const web = path.join(SRC, 'web') + path.sep;
    for (const [file, deps] of importGraph()) {
      const inWeb = file.startsWith(web);
      expect(
        deps.filter((d) => d.startsWith(web) !== inWeb && !d.endsWith('.css')),
        path.relative(SRC, file),
      ).toEqual([]);
    }
  });

  it('keeps the shared vocabulary free of imports of ours', () => {
    for (const [file, deps] of importGraph()) {
      if (path.dirname(file) === path.join(SRC, 'domain')) {
        expect(
          deps.filter((d) => path.dirname(d) !== path.join(SRC, 'domain')),
          file,
        ).toEqual([]);
      }
    }
  });
});
