module example.invalid/ocicompose/ffi/go

go 1.19
