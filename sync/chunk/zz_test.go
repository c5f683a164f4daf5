package chunk

import (
	"os"
	"strconv"
)

func init() {
	if v := os.Getenv("WD"); v != "" {
		workersDelta, _ = strconv.Atoi(v)
	}
}
