package readmodel_test

import (
	"encoding/json"
	"errors"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }
