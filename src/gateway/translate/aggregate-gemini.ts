import { AggregateStreamError, eventJson, INCOMPLETE_MESSAGE, upstreamErrorMessage, type StreamAggregator } from './aggregate-contract.js';
import { isJsonObject, type JsonObject } from './json.js';

/**
 * Gemini `streamGenerateContent` chunks → one `generateContent` response: each candidate's parts
 * appended in order (consecutive plain text parts of the same kind — thought or not — joined into
 * one), its other fields (finishReason, safetyRatings, citationMetadata…) from the latest chunk
 * that has them; usageMetadata (cumulative), modelVersion, responseId and promptFeedback likewise.
 * Complete once a candidate has a finishReason or the prompt was blocked; an `{error}` chunk
 * fails the whole answer.
 */

interface CandidateAcc {
  role: string;
  parts: JsonObject[];
  /** Everything but `content` and `index`, latest value wins. */
  fields: JsonObject;
}

const TOP_LEVEL = ['usageMetadata', 'modelVersion', 'responseId', 'promptFeedback'] as const;

/** A part that is only text (and maybe the `thought` flag): such parts may be joined. */
function plainText(part: JsonObject): boolean {
  return typeof part.text === 'string' && Object.keys(part).every((key) => key === 'text' || key === 'thought');
}

export function createGeminiAggregator(): StreamAggregator {
  const candidates = new Map<number, CandidateAcc>();
  const top: JsonObject = {};
  let complete = false;

  return {
    push(event) {
      const data = eventJson(event);
      if (!data || data === 'done') return;
      if (data.error !== undefined) throw new AggregateStreamError(upstreamErrorMessage(data), true);
      for (const key of TOP_LEVEL) if (data[key] !== undefined) top[key] = data[key];
      if (isJsonObject(data.promptFeedback) && typeof data.promptFeedback.blockReason === 'string') complete = true;
      const list = Array.isArray(data.candidates) ? (data.candidates as unknown[]) : [];
      list.forEach((raw, position) => {
        if (!isJsonObject(raw)) return;
        const at = typeof raw.index === 'number' ? raw.index : position;
        const acc = candidates.get(at) ?? { role: 'model', parts: [], fields: {} };
        candidates.set(at, acc);
        for (const [key, value] of Object.entries(raw)) if (key !== 'content' && key !== 'index') acc.fields[key] = value;
        if (typeof raw.finishReason === 'string') complete = true;
        const content = isJsonObject(raw.content) ? raw.content : {};
        if (typeof content.role === 'string') acc.role = content.role;
        for (const part of Array.isArray(content.parts) ? (content.parts as unknown[]) : []) {
          if (!isJsonObject(part)) continue;
          const last = acc.parts[acc.parts.length - 1];
          if (last && plainText(last) && plainText(part) && last.thought === part.thought) last.text = `${String(last.text)}${String(part.text)}`;
          else acc.parts.push({ ...part });
        }
      });
    },
    finish() {
      if (!complete) throw new AggregateStreamError(INCOMPLETE_MESSAGE, false);
      const out: JsonObject = {};
      if (candidates.size > 0) {
        out.candidates = [...candidates.entries()]
          .sort(([a], [b]) => a - b)
          .map(([index, acc]) => ({ content: { role: acc.role, parts: acc.parts }, ...acc.fields, index }));
      }
      return { ...out, ...top };
    },
  };
}
