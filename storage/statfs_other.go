//go:build !linux

package storage

import "errors"

func statFS(string) (free, total uint64, err error) {
	return 0, 0, errors.New("storage: statfs is only supported on Linux")
}

func readOnlyFlag(string) (bool, error) {
	return false, errors.New("storage: statfs is only supported on Linux")
}
