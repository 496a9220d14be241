// Package apiformat is the one registry of the provider API formats and
// credential (authorization) types sluice knows. The configuration
// (package policy) validates compatibility flags and authorization values
// against it, and package compat implements exactly these formats and
// sets exactly these credential headers; tests in both fail when either
// lists a name the registry does not, or misses one it does.
//
// A format name is a plain string, equal to the configuration's
// compatibility flag and to the Rego input's request.format. The package
// imports nothing of sluice and nothing of HTTP, so every package may use
// it.
package apiformat

import "slices"

// API format names, in documentation order.
const (
	OpenAIChat            = "openai_chat"
	OpenAIResponses       = "openai_responses"
	AnthropicMessages     = "anthropic_messages"
	GeminiGenerateContent = "gemini_generate_content"
	BedrockModelInvoke    = "bedrock_model_invoke"
	BedrockConverse       = "bedrock_converse"
	GoogleGenerateContent = "google_generate_content"
	GoogleRawPredict      = "google_raw_predict"
)

var formats = []string{
	OpenAIChat,
	OpenAIResponses,
	AnthropicMessages,
	GeminiGenerateContent,
	BedrockModelInvoke,
	BedrockConverse,
	GoogleGenerateContent,
	GoogleRawPredict,
}

// Formats returns every API format name in documentation order. The slice
// is the caller's own.
func Formats() []string { return slices.Clone(formats) }

// Known reports whether name is an API format.
func Known(name string) bool { return slices.Contains(formats, name) }

// translatable are the formats sluice translates requests and answers
// between; package compat/translate has one translator for each, and its
// tests fail when the two lists differ.
var translatable = []string{OpenAIChat, OpenAIResponses, AnthropicMessages, GeminiGenerateContent, BedrockConverse}

// Translatable reports whether sluice translates model requests and their
// answers to and from format name.
func Translatable(name string) bool { return slices.Contains(translatable, name) }

// Authorization types of a provider (or hook) credential: how the key
// travels to the upstream.
const (
	// AuthBearer sends "Authorization: Bearer KEY" (the default).
	AuthBearer = "bearer"
	// AuthXAPIKey sends "x-api-key: KEY" (Anthropic).
	AuthXAPIKey = "x-api-key"
	// AuthXGoogAPIKey sends "x-goog-api-key: KEY" (Gemini).
	AuthXGoogAPIKey = "x-goog-api-key"
)

var authTypes = []string{AuthBearer, AuthXAPIKey, AuthXGoogAPIKey}

// AuthTypes returns every authorization type. The slice is the caller's
// own.
func AuthTypes() []string { return slices.Clone(authTypes) }

// KnownAuth reports whether name is an authorization type.
func KnownAuth(name string) bool { return slices.Contains(authTypes, name) }
