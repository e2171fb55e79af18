/**
 * Checks of raspberry_pi: a serial console needs the serial port; an empty section changes nothing.
 * Run with the other semantic checks (src/config/semantic.ts): config-layer code kept
 * beside the step, so it imports nothing above src/config.
 */
import { isObj } from '../../config/checks/read.js';
import type { Obj, Sink } from '../../config/checks/read.js';

export function check(cfg: Obj, r: Sink): void {
  if (isObj(cfg.raspberry_pi)) checkRaspberryPi(cfg.raspberry_pi, r);
}

function checkRaspberryPi(pi: Obj, r: Sink): void {
  if (pi.serial_console === true && pi.serial_hardware === false) r.error(['raspberry_pi', 'serial_console'], 'pi-serial', 'a serial console needs the serial port: serial_hardware is false', 'set serial_hardware: true, or remove one of them');
  if (Object.keys(pi).length === 0) r.warn(['raspberry_pi'], 'pi-empty', 'raspberry_pi: names no interface, so nothing changes', 'add e.g. i2c: true, or remove raspberry_pi:', 'key');
}
