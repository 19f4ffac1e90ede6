package cli

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/certbind/certbind/services/restapi"
)

// notTheAPI returns the error for an error answer that did not come from
// the certbind REST API, or nil when it did. The API marks each of its
// answers with restapi.Header; one without it is still the API's when its
// body is the API's error status ({"code": 5, "message": ...}), as a
// server older than the header sends. An answer of the edge, whose JSON
// bodies carry an "error" code instead, says --api-url names the edge;
// any other is reported with its status and the start of its body, which
// is someone else's and must not pass for the API's.
func notTheAPI(baseURL string, resp *http.Response, body []byte) error {
	if resp.Header.Get(restapi.Header) != "" {
		return nil
	}
	var answer struct {
		Code    json.RawMessage `json:"code"`
		Error   string          `json:"error"`
		Message string          `json:"message"`
	}
	isJSON := json.Unmarshal(body, &answer) == nil && answer.Message != ""
	var code int
	if isJSON && json.Unmarshal(answer.Code, &code) == nil {
		return nil
	}
	where := fmt.Sprintf(`set --api-url (or %s) to the certbind REST API's address ("certbind dev" prints it as "REST API"; by default %s)`, EnvAPIURL, DefaultAPIURL)
	if isJSON && answer.Error != "" {
		// A wrong --api-url is a mistake on the command line (exit 2),
		// whatever status the edge answered with.
		return usageError(&APIError{HTTPStatus: resp.StatusCode, Message: fmt.Sprintf(
			"--api-url %s is the certbind edge, which serves deployments, not the certbind API: %s", baseURL, where)})
	}
	msg := fmt.Sprintf("--api-url %s answered %s", baseURL, resp.Status)
	if snippet := bodySnippet(body); snippet != "" {
		msg += " (" + snippet + ")"
	}
	return &APIError{HTTPStatus: resp.StatusCode, Message: msg + ", which is not the certbind API (or a proxy in front of it failed): " + where}
}
