// Package translate converts requests and answers between API formats, so
// that a client speaking one format can reach a provider that speaks
// another.
//
// # Design: a hub, not pairs
//
// Every format has one translator that reads its requests and answers into
// one internal representation (the hub types [Request] and [Response]) and
// writes them back out. Translating from A to B is A's decoder followed by
// B's encoder. With N formats that is N translators, each tested on its own
// against its own fixtures; pairwise translation would need N×(N-1)
// converters (twenty for the five formats sluice serves), each repeating the
// quirks of both its formats, and a fix in one format's handling would have
// to be made in every pair that touches it. The hub is also where meaning is
// decided once: what a stop reason means, how cached tokens count (as in
// package usage: cache reads and writes are part of the input), what a tool
// call's arguments are (one JSON value).
//
// The cost of a hub is that it holds only what formats share. What one
// side can say and the other cannot is never dropped silently when it
// changes the answer: the translator refuses the request with an
// [*UnsupportedError] naming the field, and the gateway answers that in the
// caller's format. What does not change the answer (an SDK's metadata, a
// stream option) may be left out.
//
// # What is carried
//
// System prompts, multi-turn history, text, images (URL and base64), tool
// definitions, tool choice (auto, none, required, one named tool; parallel
// calls off), tool calls and their results, the maximum answer length,
// temperature, top_p, stop sequences, stop reasons and usage (input,
// output, cache read and write, reasoning). Reasoning settings and
// reasoning content are not carried between these two formats: OpenAI chat
// completions has no field for either that every server accepts.
//
// Errors need no translator: compat.ReadError reads an error answer of any
// format (status, kind, message) and compat.WriteError answers it in the
// caller's, as it does sluice's own errors.
//
// The first pair is OpenAI chat completions and Anthropic messages:
// [RequestBody] and [ResponseBody] translate whole bodies both ways, and
// [NewStream] translates a stream either way as its bytes arrive (tool call
// arguments stream as argument deltas on both sides; stop reason and usage
// close the stream in the shape the client's SDK expects).
package translate
