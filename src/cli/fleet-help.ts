/** The help of `flint fleet`, apart from the command so that `flint --help` loads nothing else. */
export const fleetHelp = `Usage: flint fleet build CONFIG -o DIR [--sign --key KEY.pem --cert CERT.pem [--chain CA.pem] [--passphrase-stdin]] [--force] [--json]

Writes one config per machine of CONFIG's hosts: entries, for any static web server
(nginx, a CDN, object storage), laid out for flint.config= URL templates:

  DIR/by-mac/52-54-00-12-34-56.yaml   flint.config=https://HOST/PATH/by-mac/{mac}.yaml
  DIR/by-serial/SERIAL.yaml           flint.config=https://HOST/PATH/by-serial/{serial}.yaml
  DIR/by-uuid/UUID.yaml               flint.config=https://HOST/PATH/by-uuid/{uuid}.yaml
  DIR/default.yaml                    the top level, for machines no entry names
  DIR/index.json                      every file, its machine and SHA-512

Each file is CONFIG with the machine's entry merged in and passwords hashed, with
NAME.sha512 beside it and, with --sign, NAME.sig (docs/signing.md). DIR is written
whole and then put in place, so a server never serves half a fleet; an existing DIR
that is not empty needs --force. docs/fleet.md has an nginx site and an iPXE script.

Exit status: 0 written, 1 CONFIG is invalid or cannot be served, 2 usage.`;
