/** Help for sign and verify, apart from the commands: `flint help` must not load them. */

export const signHelp = `Usage: flint sign CONFIG --key KEY.pem --cert CERT.pem [--chain CA.pem] [--passphrase-stdin]

Write CONFIG.sig beside CONFIG: a signed manifest with the SHA-256 of the config and
of every payload it names (file: sources, container image archives, script files; for
a Combustion script every file in its folder), the signer's certificate chain and a
signature over the manifest (SHA-256 with RSA or ECDSA). Changing, adding or removing
any of them afterwards breaks the signature. Sign after every edit, and copy CONFIG.sig
with the config onto the stick. Format: docs/signing.md.

Options:
  --key KEY.pem        the signing key, PEM: RSA (2048 bits or more) or ECDSA P-256/P-384;
                       when it is encrypted the passphrase is asked on the terminal
  --cert CERT.pem      the signer's certificate (keyUsage digitalSignature; an
                       extendedKeyUsage, if any, must include codeSigning)
  --chain CA.pem       intermediate CA certificates to carry in the signature
  --passphrase-stdin   read the key's passphrase from standard input (first line)
  -o, --output FILE    where to write the signature (default CONFIG.sig)
  -h, --help           show this help

Exit status: 0 signed, 1 the key, certificate or a payload is unusable, 2 usage error.`;

export const verifyHelp = `Usage: flint verify CONFIG [--trust CA.pem[,CA2.pem...]] [--json]

Check CONFIG.sig: who signed CONFIG and when, whether the signature matches the config
and every payload it names, and whether the signer's chain reaches a trusted
certificate (valid now, usage for signing: docs/signing.md). Without --trust, the
certificates in /etc/flint/trust/*.pem are trusted.

Options:
  --trust CA.pem       trusted certificates in PEM (a file may hold several; several
                       files comma-separated)
  --json               print the result as JSON
  -h, --help           show this help

Exit status: 0 signed by a trusted signer and unchanged, 1 the signature is refused
(changed, added or missing content, another key, an untrusted, expired, not yet valid
or wrongly used certificate, a truncated or garbage signature file), 4 not signed (no
CONFIG.sig), 2 usage error.`;
