/**
 * Block Kit's limits for a message, as Slack's reference states them
 * (https://docs.slack.dev/reference/block-kit/blocks): at most 50 blocks; a section's text at
 * most 3,000 characters, at most 10 fields of at most 2,000; a header's plain_text at most 150;
 * a context at most 10 elements; a text object never empty; a block_id at most 255. Slack
 * refuses a message breaking any of them as a whole (`400 invalid_blocks`), so the message is
 * lost. Block types Hoist does not send are refused too rather than passed unchecked.
 * Lengths are counted in UTF-16 code units, never fewer than Slack's characters.
 */
export const BLOCK_LIMITS = {
  blocks: 50,
  sectionText: 3_000,
  fields: 10,
  fieldText: 2_000,
  headerText: 150,
  contextElements: 10,
  text: 3_000,
  blockId: 255,
} as const;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** What is wrong with `blocks`, in words, or undefined when Slack would accept them. */
export function blockKitProblem(blocks: unknown): string | undefined {
  if (!Array.isArray(blocks)) return "blocks is not an array";
  if (blocks.length > BLOCK_LIMITS.blocks) return `${blocks.length} blocks, more than ${BLOCK_LIMITS.blocks}`;
  for (const [i, block] of blocks.entries()) {
    const problem = isObject(block) ? blockProblem(block) : "not an object";
    if (problem) return `block ${i}: ${problem}`;
  }
  return undefined;
}

function blockProblem(b: Json): string | undefined {
  if (b.block_id !== undefined && (typeof b.block_id !== "string" || b.block_id.length > BLOCK_LIMITS.blockId)) {
    return `block_id is not a string of at most ${BLOCK_LIMITS.blockId} characters`;
  }
  switch (b.type) {
    case "section":
      return sectionProblem(b);
    case "header":
      return textProblem(b.text, BLOCK_LIMITS.headerText, ["plain_text"], "text");
    case "context":
      return contextProblem(b);
    case "divider":
      return undefined;
    case "actions":
      return actionsProblem(b);
    default:
      return `type ${JSON.stringify(b.type)} is not a block this receiver knows`;
  }
}

function sectionProblem(b: Json): string | undefined {
  if (b.text === undefined && b.fields === undefined) return "a section needs text or fields";
  if (b.text !== undefined) {
    const p = textProblem(b.text, BLOCK_LIMITS.sectionText, ["mrkdwn", "plain_text"], "text");
    if (p) return p;
  }
  if (b.fields !== undefined) {
    if (!Array.isArray(b.fields) || b.fields.length === 0 || b.fields.length > BLOCK_LIMITS.fields) {
      return `fields is not a list of 1 to ${BLOCK_LIMITS.fields} text objects`;
    }
    for (const [i, f] of b.fields.entries()) {
      const p = textProblem(f, BLOCK_LIMITS.fieldText, ["mrkdwn", "plain_text"], `fields[${i}]`);
      if (p) return p;
    }
  }
  return undefined;
}

/** An actions block: 1 to 25 buttons, each with plain_text of at most 75, an action_id and value within Slack's limits. */
function actionsProblem(b: Json): string | undefined {
  const els = b.elements;
  if (!Array.isArray(els) || els.length === 0 || els.length > 25) return "elements is not a list of 1 to 25";
  for (const [i, e] of els.entries()) {
    if (!isObject(e) || e.type !== "button") return `elements[${i}] is not a button`;
    const p = textProblem(e.text, 75, ["plain_text"], `elements[${i}].text`);
    if (p) return p;
    if (typeof e.action_id !== "string" || e.action_id.length === 0 || e.action_id.length > 255)
      return `elements[${i}].action_id is not 1 to 255 characters`;
    if (e.value !== undefined && (typeof e.value !== "string" || e.value.length > 2000))
      return `elements[${i}].value is over 2000 characters`;
    if (e.style !== undefined && e.style !== "primary" && e.style !== "danger") return `elements[${i}].style is not primary or danger`;
  }
  return undefined;
}

function contextProblem(b: Json): string | undefined {
  const els = b.elements;
  if (!Array.isArray(els) || els.length === 0 || els.length > BLOCK_LIMITS.contextElements) {
    return `elements is not a list of 1 to ${BLOCK_LIMITS.contextElements}`;
  }
  for (const [i, e] of els.entries()) {
    if (isObject(e) && e.type === "image") {
      if (typeof e.image_url !== "string" || typeof e.alt_text !== "string") return `elements[${i}]: an image needs image_url and alt_text`;
      continue;
    }
    const p = textProblem(e, BLOCK_LIMITS.text, ["mrkdwn", "plain_text"], `elements[${i}]`);
    if (p) return p;
  }
  return undefined;
}

function textProblem(t: unknown, max: number, types: string[], where: string): string | undefined {
  if (!isObject(t) || typeof t.type !== "string" || !types.includes(t.type)) return `${where} is not a ${types.join(" or ")} text object`;
  if (typeof t.text !== "string" || t.text.length === 0) return `${where}.text is empty`;
  if (t.text.length > max) return `${where}.text is ${t.text.length} characters, more than ${max}`;
  return undefined;
}
