// Value kinds and error codes shared by the scanner, the reader and their
// callers (400 messages name the kind that was sent).

// @ts-ignore: decorator
@inline export const DEFAULT_MAX_DEPTH: i32 = 128;

/** Kind of the next value, from its first byte (see JsonScanner.peek). */
export enum JsonKind {
  /** Not a value: an error is set (unexpected byte or end of input). */
  Invalid = 0,
  Object = 1,
  Array = 2,
  String = 3,
  Number = 4,
  True = 5,
  False = 6,
  Null = 7,
}

/** Error codes; JsonError.None (0) means no error. */
export enum JsonError {
  None = 0,
  UnexpectedEnd = 1,
  /** A byte that cannot start a value here. */
  ExpectedValue = 2,
  ExpectedColon = 3,
  /** After a member/element: expected ',' or the closing bracket. */
  ExpectedCommaOrEnd = 4,
  /** Expected a '"' starting an object key (also: trailing comma in an object). */
  ExpectedKey = 5,
  TrailingData = 6,
  TooDeep = 7,
  BadNumber = 8,
  BadEscape = 9,
  ControlCharInString = 10,
  BadUtf8 = 11,
  BadLiteral = 12,
  /** API misuse: e.g. nextKey() outside an object. */
  BadState = 13,
}

/** Short English text for an error code (used in 400 messages). */
export function jsonErrorText(code: JsonError): string {
  switch (code) {
    case JsonError.None: return "no error";
    case JsonError.UnexpectedEnd: return "unexpected end of input";
    case JsonError.ExpectedValue: return "expected a JSON value";
    case JsonError.ExpectedColon: return "expected ':' after an object key";
    case JsonError.ExpectedCommaOrEnd: return "expected ',' or a closing bracket";
    case JsonError.ExpectedKey: return "expected a string object key";
    case JsonError.TrailingData: return "unexpected data after the JSON value";
    case JsonError.TooDeep: return "nesting too deep";
    case JsonError.BadNumber: return "invalid number";
    case JsonError.BadEscape: return "invalid escape in string";
    case JsonError.ControlCharInString: return "unescaped control character in string";
    case JsonError.BadUtf8: return "invalid UTF-8 in string";
    case JsonError.BadLiteral: return "invalid literal";
    case JsonError.BadState: return "scanner misuse";
  }
  return "invalid JSON";
}

/** "an object", "a string", ... for messages like "expected a string, got a number". */
export function jsonKindName(k: JsonKind): string {
  switch (k) {
    case JsonKind.Object: return "an object";
    case JsonKind.Array: return "an array";
    case JsonKind.String: return "a string";
    case JsonKind.Number: return "a number";
    case JsonKind.True:
    case JsonKind.False: return "a boolean";
    case JsonKind.Null: return "null";
  }
  return "invalid JSON";
}
