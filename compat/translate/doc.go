// Package translate converts requests and answers between API formats, so
// that a client speaking one format can reach a provider that speaks
// another. It translates between OpenAI chat completions, OpenAI
// Responses, Anthropic messages, Gemini generateContent (which Vertex AI's
// Google publisher models share) and Bedrock Converse, every pair both
// ways: request bodies ([RequestBody], [RequestBodyFor]), answers
// ([ResponseBody]) and streams ([NewStream]).
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
// package usage: cache reads and writes are part of the input; reasoning
// is part of the output), what a tool call's arguments are (one JSON
// value), how an effort and a token budget for reasoning stand for each
// other.
//
// Streams go through the hub too, as a sequence of blocks (text,
// reasoning, one tool call each) closed by a stop reason and usage: one
// decoder per format reads the upstream's events into blocks and one
// encoder per format writes blocks as the client's events. The pair
// OpenAI chat to and from Anthropic keeps translators of its own, written
// and measured before the hub carried streams (BenchmarkStream).
//
// Streams are the hot path: every event of every translated stream is
// read and written. Chat completion chunks, Anthropic and Responses
// events (and a whole chat completion) are read by byte-level readers
// built on internal/jsonbytes, which fill the same structs encoding/json
// would and leave to it whatever they cannot read exactly as it does;
// FuzzFastDecoders holds them to that. Events are appended to the
// stream's buffer, strings quoted as encoding/json quotes them, rather
// than marshalled one by one.
//
// The cost of a hub is that it holds only what formats share. What one
// side can say and the other cannot is never dropped silently when it
// changes the answer: the translator refuses the request with an
// [*UnsupportedError] naming the field, and the gateway answers that in the
// caller's format. What does not change the answer (an SDK's metadata, a
// stream option, a cache hint) may be left out.
//
// # What is carried
//
// Between every pair: system prompts, multi-turn history, text, tool
// definitions, tool choice (auto, required, one named tool), tool calls
// and their results (several calls in one turn too; arguments stream as
// deltas), the maximum answer length (max_tokens, max_completion_tokens,
// max_output_tokens, maxOutputTokens, maxTokens), temperature, top_p,
// stop reasons and usage (input, output, cache read and write, reasoning).
//
// What each format carries beyond that, and what is refused going into it:
//
//	                     chat   responses  anthropic  gemini  bedrock
//	image, base64        yes    yes        yes        yes     yes (png, jpeg, gif, webp)
//	image, by URL        yes    yes        yes        refused refused
//	stop sequences       yes    refused    yes        yes     yes
//	tool choice "none"   yes    yes        yes        yes     refused
//	parallel calls off   yes    yes        yes        refused refused
//	JSON answer / schema yes    yes        refused    yes     refused
//	reasoning settings   effort effort     budget     budget  budget (Claude's thinking field)
//	reasoning content    no     summary    thinking   thoughts reasoningContent
//
// Gemini takes images by URL only as files of a known media type
// (fileData), and Bedrock only inline bytes or S3: a URL image from a chat,
// Responses or Anthropic client is refused rather than fetched by the
// gateway. Anthropic and Bedrock have no JSON answer mode every model
// honours, so a response_format is refused for them instead of being
// ignored. Gemini and Converse cannot forbid several tool calls in one
// turn. A temperature above 1 is refused for Anthropic, whose scale ends
// at 1 where OpenAI's and Gemini's go to 2.
//
// Reasoning settings are an effort (OpenAI) or a token budget (Anthropic,
// Gemini, Claude on Bedrock); each side's is mapped to the other's by
// fixed steps (minimal 1024, low 2048, medium 8192, high 24576 tokens).
// Reasoning content of earlier turns goes back only to the provider that
// wrote it, with its signature (Anthropic's and Bedrock's signatures,
// Gemini's thought signatures, Responses' encrypted content): another
// provider could not verify it. In answers, every client sees the
// reasoning as its format shows it, except chat completions clients,
// whose format has no field for it that every client reads. Streams
// carry reasoning deltas and signatures the same way.
//
// Refused as well, going out of a format because the hub cannot hold
// them: several choices or candidates, log probabilities, penalties,
// top_k, server-side conversation state (previous_response_id), built-in
// tools (web search, code execution, Google Search), documents, audio and
// video, guardrails.
//
// Gemini and Bedrock requests name the model and whether the answer
// streams in the URL: [RequestBodyFor] takes both from the caller, and the
// caller builds the upstream URL of such a format from them. Gemini
// streams are read in their alt=sse form (the caller asks the upstream
// for it) and written in it, or as the JSON array a client that did not
// ask for SSE expects ([Options].GeminiJSONArray). Gemini's function calls
// carry no IDs; the translator names them call_NAME_N and pairs results
// with calls by name and order, as Gemini does.
//
// Errors need no translator: compat.ReadError reads an error answer of any
// format (status, kind, message) and compat.WriteError answers it in the
// caller's, as it does sluice's own errors; rate limits keep their 429
// (Gemini's RESOURCE_EXHAUSTED, Bedrock's ThrottlingException) and
// Anthropic's 529 becomes 503. A stream that fails midway ends with the
// client format's error event (an exception frame for Bedrock).
package translate
