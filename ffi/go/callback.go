package ocicompose

/*
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// progressState carries a compose's ProgressFunc across the C boundary (as a
// cgo.Handle) and brings a panic of it back to the calling goroutine.
type progressState struct {
	fn       ProgressFunc
	panicked interface{}
}

// call runs the callback; a panic cancels the compose and is re-raised by Compose.
// The library calls it one call at a time, so the fields need no lock.
func (p *progressState) call(stage Stage, done, total uint64) (keep bool) {
	if p.panicked != nil {
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			p.panicked = r
			keep = false
		}
	}()
	return p.fn(stage, done, total)
}

// ocicomposeGoProgress is the C progress callback of every Go compose; user_data is
// the number of a cgo.Handle to the compose's progressState. It must not let a panic
// unwind into C, hence the recover in call.
//
//export ocicomposeGoProgress
func ocicomposeGoProgress(userData unsafe.Pointer, stage C.uint32_t, done, total C.uint64_t) C.int {
	state, ok := cgo.Handle(uintptr(userData)).Value().(*progressState)
	if !ok || !state.call(Stage(stage), uint64(done), uint64(total)) {
		return 0
	}
	return 1
}
