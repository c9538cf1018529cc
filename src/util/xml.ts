/**
 * Text safe inside an XML element or a quoted attribute: the five special characters
 * escaped, and the control characters XML 1.0 cannot carry even escaped dropped.
 */
export function xmlEscape(value: string | number): string {
  return (
    String(value)
      // eslint-disable-next-line no-control-regex -- these are exactly what XML forbids
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
      .replaceAll("&", "&amp;")
      .replaceAll("<", "&lt;")
      .replaceAll(">", "&gt;")
      .replaceAll('"', "&quot;")
      .replaceAll("'", "&apos;")
  );
}
