package ui

import "net/http"

func (h *Handler) stub(w http.ResponseWriter, r *http.Request, c Caller, title, key string) {
	h.render(w, r, c, http.StatusOK, "stub", title, key, nil)
}

func (h *Handler) myUsage(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "My usage", "usage")
}
func (h *Handler) userUsage(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Usage of "+r.PathValue("login"), "usage")
}
func (h *Handler) myLogs(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Logs", "logs")
}
func (h *Handler) requestDetail(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Request", "logs")
}
func (h *Handler) models(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Models", "models")
}
func (h *Handler) connect(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Connect a client", "connect")
}
func (h *Handler) adoption(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Usage overview", "adoption")
}
func (h *Handler) adoptionCSV(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Usage overview", "adoption")
}
func (h *Handler) activity(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Activity", "activity")
}
func (h *Handler) allLogs(w http.ResponseWriter, r *http.Request, c Caller) {
	h.stub(w, r, c, "Logs (all)", "all-logs")
}
