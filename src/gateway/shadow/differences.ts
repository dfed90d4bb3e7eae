// The fields in which two answers differ, as one comparison found them: at most
// MAX_FIELDS_PER_COMPARISON names, each with the first pair of values seen there (kept
// only when samples are), the rest folded into OTHER_FIELD so a body with ten thousand
// differing members costs ten thousand checks, not ten thousand strings.

/** Field name that stands for the fields past a cap (per comparison and per route). */
export const OTHER_FIELD = '(other)';
/** Most distinct fields one comparison reports. */
export const MAX_FIELDS_PER_COMPARISON = 100;
/** Longest field name; longer paths are cut, and paths that agree that far are one field. */
export const MAX_FIELD_LENGTH = 200;

/** The values on each side of a difference; undefined where the field is absent. */
export interface DifferingValues {
  readonly primary: unknown;
  readonly candidate: unknown;
}

export class Differences {
  /** Field name → the first values seen there (null when values are not kept). */
  readonly fields = new Map<string, DifferingValues | null>();
  /** Whether fields past the cap were folded into OTHER_FIELD. */
  overflowed = false;

  constructor(
    private readonly keepValues: boolean,
    private readonly max = MAX_FIELDS_PER_COMPARISON,
  ) {}

  get empty(): boolean {
    return this.fields.size === 0 && !this.overflowed;
  }

  /** Whether the cap is reached: a walk may stop, since any further field folds. */
  isFull(): boolean {
    return this.overflowed;
  }

  add(field: string, primary: unknown, candidate: unknown): void {
    const name = field.length > MAX_FIELD_LENGTH ? `${field.slice(0, MAX_FIELD_LENGTH)}…` : field;
    if (this.fields.has(name)) return;
    if (this.fields.size >= this.max) {
      this.overflowed = true;
      return;
    }
    this.fields.set(name, this.keepValues ? { primary, candidate } : null);
  }
}
