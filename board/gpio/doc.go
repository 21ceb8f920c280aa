// Package gpio drives GPIO lines through the Linux GPIO character device
// (/dev/gpiochipN, uAPI v2), so a camera can switch its IR-cut filter and IR
// LEDs without cgo, libgpiod or the deprecated /sys/class/gpio interface.
//
// The usual Go GPIO libraries are not available to this project, so the uAPI
// v2 ioctls are written here in pure Go over golang.org/x/sys/unix: the kernel
// structs (gpio_v2_line_request 592 bytes, gpio_v2_line_config 272,
// gpio_v2_line_values 16, gpio_v2_line_attribute 16,
// gpio_v2_line_config_attribute 24, gpiochip_info 68, gpio_v2_line_info 256)
// are mirrored field by field with the kernel's explicit padding, so they have
// the same layout on 64-bit and 32-bit ARM and on MIPS (tests pin every size
// and offset). The ioctl numbers are computed from the _IOC encoding of the
// architecture: MIPS and PowerPC use 3 direction bits and 13 size bits where
// the rest use 2 and 14, which changes the _IOR numbers (GPIO_GET_CHIPINFO).
//
// A chip that does not exist is ErrAbsent ("not on this board"); a line that
// another consumer holds is ErrBusy; anything else is a failure of a chip that
// is present. Only outputs are supported: a line request holds up to 64
// lines of one chip, each with its own active-low setting and initial value,
// and Pin adapts one line to the one-method output interface
// (Out(on bool) error) that the day/night controller asks for.
//
// The syscalls live in gpio_linux.go; on other systems OpenChip returns
// errors.ErrUnsupported, and everything else (request building, value masks)
// is plain Go tested on any machine through an injected ioctl function.
package gpio
