// Package homeassistant publishes the camera's state to an optional second,
// local MQTT broker on the owner's LAN in the shape Home Assistant expects
// (MQTT discovery, plain JSON), as Frigate and thingino users are used to: a
// motion binary_sensor, SD free and upload backlog sensors, and the last
// snapshot as an image entity.
//
// It is off unless configured ([mqtt.local]). What it publishes is not
// signed (Home Assistant could not check it) and it is not the attribution
// channel: the cloud channel (package mqtt) stays the signed one. It never
// accepts commands: it subscribes to nothing, so nothing a LAN client
// publishes reaches the camera through it.
//
// Topics, with the device ID as object ID:
//
//	<prefix>/binary_sensor/<id>/motion/config   discovery (retained)
//	<prefix>/sensor/<id>/sd_free/config         discovery (retained)
//	<prefix>/sensor/<id>/upload_backlog/config  discovery (retained)
//	<prefix>/image/<id>/snapshot/config         discovery (retained)
//	camagent/local/<id>/availability            "online" / "offline" (last will), retained
//	camagent/local/<id>/motion                  "ON" / "OFF", retained
//	camagent/local/<id>/state                   {"sd_free_mb":..,"upload_backlog":..,"uptime_s":..,"fps":..}, retained
//	camagent/local/<id>/snapshot                the last snapshot (JPEG bytes), retained
//
// Only the latest value of each is kept (no queue): Home Assistant wants the
// present, and memory stays bounded by one snapshot.
package homeassistant
