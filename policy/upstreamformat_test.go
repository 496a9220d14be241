package policy

import "testing"

func TestProviderUpstreamFormat(t *testing.T) {
	tests := []struct {
		name      string
		compat    []string
		translate bool
		format    string
		want      string
		ok        bool
	}{
		{"spoken natively", []string{FormatOpenAIChat}, false, FormatOpenAIChat, FormatOpenAIChat, true},
		{"spoken natively by a translating provider", []string{FormatOpenAIChat, FormatAnthropicMessages}, true, FormatAnthropicMessages, FormatAnthropicMessages, true},
		{"not spoken, no translation", []string{FormatOpenAIChat}, false, FormatAnthropicMessages, "", false},
		{"translated to the one format spoken", []string{FormatOpenAIChat}, true, FormatAnthropicMessages, FormatOpenAIChat, true},
		{"first translatable format in documentation order", []string{FormatBedrockModelInvoke, FormatBedrockConverse, FormatAnthropicMessages}, true, FormatOpenAIChat, FormatAnthropicMessages, true},
		{"only untranslatable formats spoken", []string{FormatBedrockModelInvoke, FormatGoogleRawPredict}, true, FormatOpenAIChat, "", false},
		{"client format not translatable", []string{FormatOpenAIChat}, true, FormatBedrockModelInvoke, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Provider{Compatibility: Compatibility{}, Translate: tt.translate}
			for _, f := range tt.compat {
				p.Compatibility[f] = true
			}
			got, ok := p.UpstreamFormat(tt.format)
			if got != tt.want || ok != tt.ok {
				t.Errorf("UpstreamFormat(%s) = %q, %v; want %q, %v", tt.format, got, ok, tt.want, tt.ok)
			}
		})
	}
}
