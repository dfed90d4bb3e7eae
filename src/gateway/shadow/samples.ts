// compare.keepSamples: the last N differing value pairs of a field, rendered short when
// they are kept, so memory per field is N × 2 × MAX_SAMPLE_CHARS whatever the bodies are.

/** Longest rendering of one value in a sample. */
export const MAX_SAMPLE_CHARS = 256;

export interface Sample {
  readonly monolith: string;
  readonly candidate: string;
}

/** A value as a person reads it in a sample: JSON, the text of a body, or (absent). */
export function renderValue(value: unknown): string {
  let text: string;
  if (value === undefined) text = '(absent)';
  else if (Buffer.isBuffer(value)) text = value.subarray(0, MAX_SAMPLE_CHARS * 4).toString('utf8');
  else {
    try {
      text = JSON.stringify(value);
    } catch {
      // Nested deeper than the stack allows (the diff itself walks such bodies iteratively).
      text = '(too deeply nested to show)';
    }
  }
  return text.length > MAX_SAMPLE_CHARS ? `${text.slice(0, MAX_SAMPLE_CHARS - 1)}…` : text;
}

/** A ring of the last `capacity` samples. */
export class SampleRing {
  private readonly items: Sample[] = [];
  private next = 0;

  constructor(readonly capacity: number) {}

  push(monolith: unknown, candidate: unknown): void {
    const sample = { monolith: renderValue(monolith), candidate: renderValue(candidate) };
    if (this.items.length < this.capacity) this.items.push(sample);
    else this.items[this.next] = sample;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  list(): Sample[] {
    return this.items.length < this.capacity
      ? [...this.items]
      : [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
}
