//go:build !linux

package watchdog

import "errors"

func (fileDevice) setTimeout(int) error      { return errors.ErrUnsupported }
func (fileDevice) getTimeout() (int, error)  { return 0, errors.ErrUnsupported }
func (fileDevice) identity() (string, error) { return "", errors.ErrUnsupported }
func isBusy(error) bool                      { return false }
func isNoDevice(error) bool                  { return false }
