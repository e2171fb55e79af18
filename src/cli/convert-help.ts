/** Help for `flint convert`, apart from the command so that `flint --help` loads no converter. */
export const convertHelp = `Usage: flint convert [--to yaml|json] [-o OUT] FILE
       flint convert --to ignition|cloud-init [--strict] [--host H]
                     [--ignition-version V] [-o OUT] CONFIG

Reading (--to yaml, json or flint): print the flint config that an Ignition config
(JSON, spec 3.0.0 to 3.6.0), a cloud-init NoCloud seed (a #cloud-config user-data
file, with the meta-data and network-config beside it, or the seed's folder) or a
Combustion script amounts to. The input is checked as its own tool would check it
first; every problem is reported at its line in the input, and whatever flint does
differently from that tool is listed as a comment at the top (and on standard error).

Rendering (--to ignition or cloud-init): print the flint CONFIG as that engine's
config, for an image that runs it already: an Ignition config (spec 3.3.0, or newer
when a setting needs it), or a NoCloud seed (user-data, meta-data, network-config;
printed one after another, or written into the folder OUT). Plain-text passwords are
hashed first. Every setting the engine cannot express is listed first, at its line
in CONFIG, with what is lost and what to do instead; commands cloud-init runs for
settings it has no key for (runcmd) are listed as notes.

Options:
  --to FORMAT            yaml (default), json or flint: read FILE into flint;
                         ignition or cloud-init: render CONFIG for that engine
  -o, --output OUT       write to OUT instead of standard output (cloud-init: a folder)
  --strict               write nothing when any setting would be lost
  --host H               render for one hosts: entry: its index, or the MAC address,
                         serial or machine UUID it matches (without it, hosts: entries
                         are losses)
  --ignition-version V   pin the Ignition spec version (3.0.0 to 3.6.0); what needs
                         a newer one is lost
  -h, --help             show this help

Exit status: 0 converted (warnings and losses allowed), 1 the input has errors, or
--strict and something would be lost, 2 usage error or a file that cannot be read.`;
