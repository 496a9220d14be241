package translate_test

import (
	"fmt"
	"os"

	"github.com/sluice-gateway/sluice/compat/translate"
)

// An OpenAI chat request for a model whose provider speaks only Anthropic
// messages: the system message moves to "system", and Anthropic's
// required max_tokens gets a default.
func ExampleRequestBody() {
	body := []byte(`{"model":"claude-haiku-4-5","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}`)
	out, err := translate.RequestBody("openai_chat", "anthropic_messages", body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	// Output:
	// {"model":"claude-haiku-4-5","max_tokens":8192,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}
}

// What the target format cannot say is refused by name.
func ExampleRequestBody_unsupported() {
	_, err := translate.RequestBody("openai_chat", "anthropic_messages", []byte(`{"model":"m","n":3,"messages":[]}`))
	fmt.Println(err)
	// Output:
	// "n" above 1 cannot be translated from openai_chat to anthropic_messages
}

// A chat completion stream, translated into Anthropic events as it
// arrives.
func ExampleNewStream() {
	s, _ := translate.NewStream("openai_chat", "anthropic_messages", os.Stdout, translate.Options{})
	s.Write([]byte(`data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}` + "\n\n"))
	s.Write([]byte(`data: {"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}` + "\n\ndata: [DONE]\n\n"))
	s.Close()
	// Output:
	// event: message_start
	// data: {"type":"message_start","message":{"id":"c1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}
	//
	// event: content_block_start
	// data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}
	//
	// event: content_block_delta
	// data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}
	//
	// event: content_block_stop
	// data: {"type":"content_block_stop","index":0}
	//
	// event: message_delta
	// data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":5,"output_tokens":1}}
	//
	// event: message_stop
	// data: {"type":"message_stop"}
}

// A Gemini request reaching a provider that speaks OpenAI Responses: the
// model and the stream flag come from Gemini's URL
// (/v1beta/models/gpt-5-mini:streamGenerateContent?alt=sse), the thinking
// budget becomes an effort, and the JSON schema the answer's format.
func ExampleRequestBodyFor() {
	body := []byte(`{"contents":[{"role":"user","parts":[{"text":"Name a cookie."}]}],
		"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object"},
		"thinkingConfig":{"thinkingBudget":2048}}}`)
	out, err := translate.RequestBodyFor("gemini_generate_content", "openai_responses", body, "gpt-5-mini", true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	// Output:
	// {"model":"gpt-5-mini","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Name a cookie."}]}],"stream":true,"reasoning":{"effort":"low"},"text":{"format":{"type":"json_schema","name":"response","schema":{"type":"object"},"strict":false}},"store":false,"include":["reasoning.encrypted_content"]}
}
