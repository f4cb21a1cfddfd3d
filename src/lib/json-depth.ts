/** Shared by the api's body parser and the gateway: the one rule for hostile nesting. */

/**
 * True when `text` opens more than `maxDepth` nested arrays/objects. A single iterative scan
 * (string-aware), so hostile input never recurses anywhere: not here, not in JSON.parse, not in
 * the validators and loggers that would walk the parsed value afterwards.
 */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
