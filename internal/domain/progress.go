package domain

// The phases of a running report's build, in order.
const (
	PhaseWaitingForData = "waiting_for_data" // the read model has not reached min_position yet
	PhaseReading        = "reading"          // opening the data snapshot and counting its rows
	PhaseRendering      = "rendering"        // rows are drawn and uploaded as they stream
	PhaseUploading      = "uploading"        // every row is drawn; the upload is finishing
)

// Progress is how far a running report's build is. Percent is 0 to 100;
// ETASeconds is null until the rate of rows is known.
type Progress struct {
	Phase      string `json:"phase"`
	RowsDone   int64  `json:"rows_done"`
	RowsTotal  int64  `json:"rows_total"`
	Percent    int    `json:"percent"`
	ETASeconds *int64 `json:"eta_seconds"`
}
