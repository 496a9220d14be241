package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/gcpauth"
	"github.com/sluice-gateway/sluice/policy"
)

// isBedrock reports whether p speaks one of Bedrock's APIs.
func isBedrock(p *policy.Provider) bool {
	return p.Compatibility.Supports(policy.FormatBedrockModelInvoke) || p.Compatibility.Supports(policy.FormatBedrockConverse)
}

// bedrockModelsURL is Bedrock's ListFoundationModels call for p: on the
// control-plane host of the runtime host p names
// (bedrock-runtime.REGION.amazonaws.com → bedrock.REGION.amazonaws.com),
// else, for a base URL that is no AWS runtime host (a proxy, a private
// endpoint), under the base URL itself.
func bedrockModelsURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || u.Host == "" {
		return "", errors.New("base URL is not usable")
	}
	if rest, ok := strings.CutPrefix(u.Host, "bedrock-runtime."); ok {
		u.Host, u.Path = "bedrock."+rest, ""
	}
	u.Path += "/foundation-models"
	return u.String(), nil
}

// checkVertex checks a Vertex provider's service-account key the way
// serve uses it: an access token minted at the key's token_uri, then one
// cheap authenticated call with it, listing (at most one of) the
// project's endpoints in the provider's region.
func checkVertex(ctx context.Context, client *http.Client, p *policy.Provider) check {
	what := "provider " + p.ID
	key, err := gcpauth.ParseKeyfile(p.APIKey)
	if err != nil {
		return check{what, checkFail, "service-account key is not readable: " + strings.TrimPrefix(err.Error(), gcpauth.ErrKeyfile.Error()+": ")}
	}
	token, err := key.TokenSource(gcpauth.Options{Client: client}).Token(ctx)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			// The OAuth error code (invalid_grant…), which the JWT flow
			// leaves in the body.
			var body struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(re.Body, &body) == nil && body.Error != "" && !strings.ContainsAny(body.Error, " \n") {
				return check{what, checkFail, fmt.Sprintf("service-account key refused at %s: %s (%d)", key.TokenURI, body.Error, re.Response.StatusCode)}
			}
			return check{what, checkFail, fmt.Sprintf("service-account key refused at %s (%d)", key.TokenURI, re.Response.StatusCode)}
		}
		return check{what, checkFail, fmt.Sprintf("no access token from %s: %s", key.TokenURI, unreachableDetail(err))}
	}
	project := p.Project
	if project == "" {
		project = key.ProjectID
	}
	if project == "" {
		return check{what, checkFail, "token minted, but no project: set the provider's project or use a key with project_id"}
	}
	u, err := url.Parse(strings.TrimSuffix(p.BaseURL, "/"))
	if err != nil || u.Host == "" {
		return check{what, checkFail, "base URL is not usable"}
	}
	region := p.Region
	if h, ok := strings.CutSuffix(u.Host, "-aiplatform.googleapis.com"); region == "" && ok && h != compat.VertexRegionPlaceholder && !strings.Contains(h, ".") {
		region = h
	}
	if region == "" {
		region = compat.DefaultVertexRegion
	}
	u.Host = strings.ReplaceAll(u.Host, compat.VertexRegionPlaceholder, region)
	u.Path += "/v1/projects/" + url.PathEscape(project) + "/locations/" + url.PathEscape(region) + "/endpoints"
	u.RawQuery = "pageSize=1"
	header := http.Header{}
	header.Set("Authorization", "Bearer "+token)
	c := listCall(ctx, client, what, u.String(), header, p.APIKey != "")
	if c.status == checkOK {
		c.detail = fmt.Sprintf("token minted for %s; endpoints of %s in %s listed", key.ClientEmail, project, region)
	}
	return c
}
