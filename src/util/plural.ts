/**
 * A count with its noun, for messages: `plural(1, "problem")` is "1 problem",
 * `plural(2, "problem")` is "2 problems". Irregular nouns pass their plural.
 */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
