// Command camagent is the agent that runs on an embedded Linux security camera.
//
// It captures V4L2 video, detects motion, records event clips to the SD card
// and uploads them signed by the device (see ARCHITECTURE.md). This package
// is only the command line; the daemon that wires the parts together is
// package daemon, and each part lives in its own package:
//
//	camagent run       run the daemon (config, capture, storage, control socket)
//	camagent ctl       ask the running daemon over its control socket
//	camagent shell     the serial debug shell, over the control socket
//	camagent sign-challenge  answer a shell unlock challenge (technician's side)
//	camagent detect    run the motion detector offline over a Y4M file
//	camagent provision create the device key, print the device ID, write a CSR
//	camagent verify    check a clip and its signed manifest offline
//	camagent version   print the version
package main
