// A conversation as a request sends it: a chat's messages, or a
// /v1/responses request's input items. What the turn ends need of it
// (TurnEnds: "A conversation's last turn" in docs/hashing.md, "Past the
// hashed blocks" in docs/routing.md): where each turn's JSON lies in the
// body, and which turns are a previous answer of the model.
//
// A chat's answer is one assistant message. A responses answer is a run of
// items the model produced (reasoning, a message, function calls: see
// InputItem.output), ended by an item the client added (a tool's output, the
// next question).
import { ChatCompletionsBody, InputItem, RequestBody } from "../request/types";
import { isAssistant } from "../hashing/render";
import { Api } from "../request/types";

export abstract class Turns {
  abstract get count(): i32;
  /** Address of turn `i`'s first byte in the body (0 ≤ i < count). */
  abstract start(i: i32): usize;
  /** Address just past turn `i`'s last byte. */
  abstract end(i: i32): usize;
  /**
   * The first turn of the last answer that another turn follows (what the
   * previous request, turns [0, lastReply), was answered with), at index 1
   * or later; -1 when none.
   */
  abstract lastReply(): i32;
  /** The first turn of the conversation's first answer that another turn follows, at index 1 or later; -1 when none. */
  abstract firstReply(): i32;
  /** The first turn after the answer that starts at `reply` (lastReply or firstReply). */
  abstract afterReply(reply: i32): i32;

  /** Bytes of turns [from, count) in the body. */
  bytesFrom(from: i32): i32 {
    let bytes: usize = 0;
    for (let i = max(from, 0); i < this.count; i++) bytes += this.end(i) - this.start(i);
    return <i32>bytes;
  }
}

/** A chat's messages: an answer is one assistant message. */
class ChatTurns extends Turns {
  constructor(private c: ChatCompletionsBody) {
    super();
  }

  get count(): i32 {
    return this.c.messages.length;
  }

  start(i: i32): usize {
    return this.c.source.dataStart + <usize>unchecked(this.c.messages[i]).rawStart;
  }

  end(i: i32): usize {
    return this.c.source.dataStart + <usize>unchecked(this.c.messages[i]).rawEnd;
  }

  lastReply(): i32 {
    const ms = this.c.messages;
    for (let i = ms.length - 2; i >= 1; i--) if (isAssistant(unchecked(ms[i]).role)) return i;
    return -1;
  }

  firstReply(): i32 {
    const ms = this.c.messages;
    for (let i = 1; i < ms.length - 1; i++) if (isAssistant(unchecked(ms[i]).role)) return i;
    return -1;
  }

  afterReply(reply: i32): i32 {
    return reply + 1;
  }
}

/** A responses request's input items: an answer is a run of the model's output items. */
class ItemTurns extends Turns {
  constructor(private items: Array<InputItem>) {
    super();
  }

  get count(): i32 {
    return this.items.length;
  }

  start(i: i32): usize {
    return unchecked(this.items[i]).bytes.dataStart;
  }

  end(i: i32): usize {
    const b = unchecked(this.items[i]).bytes;
    return b.dataStart + <usize>b.length;
  }

  private output(i: i32): bool {
    return unchecked(this.items[i]).output;
  }

  lastReply(): i32 {
    // The last output item that a client item follows, then back to its run's first item.
    for (let i = this.items.length - 2; i >= 1; i--) {
      if (!this.output(i) || this.output(i + 1)) continue;
      while (i > 1 && this.output(i - 1)) i--;
      return i;
    }
    return -1;
  }

  firstReply(): i32 {
    for (let i = 1; i < this.items.length - 1; i++) {
      if (!this.output(i)) continue;
      const after = this.afterReply(i);
      return after < this.items.length ? i : -1;
    }
    return -1;
  }

  afterReply(reply: i32): i32 {
    let i = reply;
    while (i < this.items.length && this.output(i)) i++;
    return i;
  }
}

/** The turns of a chat or of a responses request sent as items; null for anything else (completions, a string input). */
export function turnsOf(body: RequestBody): Turns | null {
  if (body.api == Api.ChatCompletions) {
    const c = body.chat;
    return c !== null && c.messages.length > 0 ? new ChatTurns(c) : null;
  }
  if (body.api == Api.Responses) {
    const r = body.responses;
    return r !== null && r.inputText === null && r.inputItems.length > 0 ? new ItemTurns(r.inputItems) : null;
  }
  return null;
}
