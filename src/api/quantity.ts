// Kubernetes resource quantities (cpu: 100m, memory: 1.5Gi), as the API server reads them.
// The schema (fields.ts) only checks the shape; these read the value and the canonical
// form, which is what the API server stores: an object the operator applies with
// `cpu: 0.5` comes back as `cpu: 500m`, and would look changed on every reconcile.

/** Suffixes by power: 1024^index for binary, 1000^(index - 3) for decimal. */
const BINARY = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
const DECIMAL = ['n', 'u', 'm', '', 'k', 'M', 'G', 'T', 'P', 'E'];

interface ParsedQuantity {
  negative: boolean;
  /** All digits, integer and fraction, as one integer. */
  digits: bigint;
  /** How many of them are fraction digits. */
  decimals: number;
  format: 'binary' | 'decimal' | 'exponent';
  /** binary: 1024^power; decimal and exponent: 10^power. */
  power: number;
}

/**
 * Kubernetes' quantity grammar: a signed decimal with at least one digit, then a binary or
 * decimal suffix or an exponent. The schema validates with it too.
 */
export const QUANTITY =
  /^([+-]?)(?=\.?[0-9])([0-9]*)(?:\.([0-9]*))?(?:([KMGTPE]i)|([numkMGTPE])|[eE]([-+]?[0-9]+))?$/;

function parseQuantity(text: string): ParsedQuantity | undefined {
  const match = QUANTITY.exec(text);
  if (!match) return undefined;
  const [, sign, whole = '', fraction = '', binary, decimal, exponent] = match;
  const common = {
    negative: sign === '-',
    digits: BigInt(`${whole}${fraction}`),
    decimals: fraction.length,
  };
  if (binary !== undefined) return { ...common, format: 'binary', power: BINARY.indexOf(binary) };
  if (exponent !== undefined) return { ...common, format: 'exponent', power: Number(exponent) };
  return { ...common, format: 'decimal', power: (DECIMAL.indexOf(decimal ?? '') - 3) * 3 };
}

/** The value, e.g. 128Mi → 134217728, 1.5G → 1.5e9, 100m → 0.1; undefined if malformed. */
export function quantityValue(text: string): number | undefined {
  const q = parseQuantity(text);
  if (!q) return undefined;
  const scale = q.format === 'binary' ? 1024 ** q.power : 10 ** q.power;
  const value = (Number(q.digits) / 10 ** q.decimals) * scale;
  return q.negative ? -value : value;
}

/**
 * The form the API server stores (resource.Quantity's canonical string): the input's
 * family (binary, decimal SI or exponent) with the largest suffix that keeps an integer
 * mantissa, rounded up to nano units; binary values that are not a whole number of bytes
 * of at least 1Ki fall back to decimal SI. 0.5 → 500m, 1.5Gi → 1536Mi, 2048Mi → 2Gi,
 * 2000 → 2k, 0.5Ki → 512. Undefined if malformed.
 */
export function canonicalQuantity(text: string): string | undefined {
  const q = parseQuantity(text);
  if (!q) return undefined;
  let numerator = q.digits * 10n ** 9n;
  let denominator = 10n ** BigInt(q.decimals);
  if (q.format === 'binary') numerator *= 1024n ** BigInt(q.power);
  else if (q.power >= 0) numerator *= 10n ** BigInt(q.power);
  else denominator *= 10n ** BigInt(-q.power);
  const nano = (numerator + denominator - 1n) / denominator;
  if (nano === 0n) return '0';
  const sign = q.negative ? '-' : '';
  const perUnit = 10n ** 9n;
  if (q.format === 'binary' && nano % perUnit === 0n && nano / perUnit >= 1024n) {
    let mantissa = nano / perUnit;
    let power = 0;
    while (power < BINARY.length - 1 && mantissa % 1024n === 0n) {
      mantissa /= 1024n;
      power += 1;
    }
    return `${sign}${String(mantissa)}${BINARY[power] ?? ''}`;
  }
  let mantissa = nano;
  let index = 0;
  while (index < DECIMAL.length - 1 && mantissa % 1000n === 0n) {
    mantissa /= 1000n;
    index += 1;
  }
  if (q.format === 'exponent') {
    const exponent = (index - 3) * 3;
    return `${sign}${String(mantissa)}${exponent === 0 ? '' : `e${String(exponent)}`}`;
  }
  return `${sign}${String(mantissa)}${DECIMAL[index] ?? ''}`;
}
