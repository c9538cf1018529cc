/** First line of every config file plinth writes into an image. */
export const HEADER = "# Written by plinth from the image spec.\n";

export type Scalar = string | number | boolean;

/** A spec value as config files spell it: booleans as yes/no (sshd, systemd, journald). */
export const yesNo = (v: Scalar): string =>
  typeof v === "boolean" ? (v ? "yes" : "no") : String(v);
