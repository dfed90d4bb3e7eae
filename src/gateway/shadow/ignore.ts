// compare.ignore, compiled once per config: the JSON paths of src/api/json-path.ts as a
// small automaton the structural diff steps through as it descends, so deciding whether a
// node is ignored costs a few integer operations, never a string match on its path.
import { parseJsonPath, type JsonPathStep } from '../../api/json-path.js';

/** Where the automaton is: a sorted list of (path, step) pairs, packed as path * STRIDE + step. */
export type IgnoreState = readonly number[];

/** Paths are at most 256 characters, so at most 128 steps. */
const STRIDE = 256;

/** The member name of a child, or INDEX for an array element. */
export const INDEX: unique symbol = Symbol('index');
export type ChildKey = string | typeof INDEX;

export class IgnoreMatcher {
  /** Where every walk starts; empty when there is nothing to ignore (the common case). */
  readonly root: IgnoreState;
  /** Whether the whole body is ignored ($). */
  readonly rootIgnored: boolean;

  constructor(private readonly paths: readonly (readonly JsonPathStep[])[]) {
    this.rootIgnored = paths.some((p) => p.length === 0);
    this.root = paths.map((_p, i) => i * STRIDE);
  }

  /**
   * The state below `state` at `key`, or `null` when the child (and all below it) is
   * ignored. An empty state means no path can match any more: the caller stops asking.
   */
  child(state: IgnoreState, key: ChildKey): IgnoreState | null {
    if (state.length === 0) return state;
    const next: number[] = [];
    for (const packed of state) {
      const path = Math.floor(packed / STRIDE);
      const at = packed % STRIDE;
      const steps = this.paths[path] as readonly JsonPathStep[];
      const step = steps[at] as JsonPathStep;
      let matched: boolean;
      if (step.kind === 'wildcard') matched = true;
      else {
        matched = key !== INDEX && key === step.name;
        // ..name stays armed at every depth below, whatever the child is.
        if (step.kind === 'descendant' && !next.includes(packed)) next.push(packed);
      }
      if (matched) {
        if (at + 1 === steps.length) return null;
        const advanced = packed + 1;
        if (!next.includes(advanced)) next.push(advanced);
      }
    }
    return next;
  }
}

/** Compiles validated ignore paths; a path the schema would refuse is an error here too. */
export function compileIgnore(paths: readonly string[]): IgnoreMatcher {
  return new IgnoreMatcher(
    paths.map((text) => {
      const parsed = parseJsonPath(text);
      if (!parsed.ok) throw new Error(`shadow.compare.ignore: ${text}: ${parsed.reason}`);
      return parsed.steps;
    }),
  );
}
