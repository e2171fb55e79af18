/** Help for `flint convert`, apart from the command so that `flint --help` loads no converter. */
export const convertHelp = `Usage: flint convert [--to yaml|json] [-o OUT] FILE

Print the flint config that an Ignition config (JSON, spec 3.0.0 to 3.6.0), a
cloud-init NoCloud seed (a #cloud-config user-data file, with the meta-data and
network-config beside it, or the seed's folder) or a Combustion script amounts to.
The input is checked as its own tool would check it first; every problem is
reported at its line in the input, and whatever flint does differently from that
tool is listed as a comment at the top (and on standard error).

Options:
  --to yaml|json   output format (default yaml)
  -o, --output OUT write to OUT instead of standard output
  -h, --help       show this help

Exit status: 0 converted (warnings allowed), 1 the input has errors,
2 usage error or a file that cannot be read.`;
