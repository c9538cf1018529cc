import { InvalidArgumentError } from "commander";

/** Commander helper for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

export function accelOption(value: string): "auto" | "kvm" | "tcg" {
  if (value !== "auto" && value !== "kvm" && value !== "tcg")
    throw new InvalidArgumentError("expected auto, kvm or tcg");
  return value;
}
