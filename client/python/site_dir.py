"""Print where /usr/bin/python3 (or the interpreter running this) finds
pure-Python packages installed under the prefix given as argument.
Run by meson at configure time (client/python/meson.build)."""
import os
import sys
import sysconfig

prefix = os.path.normpath(sys.argv[1])
schemes = sysconfig.get_scheme_names()
if prefix == "/usr" and "deb_system" in schemes:
    path = sysconfig.get_path("purelib", "deb_system", vars={"base": "/usr"})
elif prefix == "/usr/local" and "posix_local" in schemes:
    # Debian's posix_local adds /local to a base of /usr.
    path = sysconfig.get_path("purelib", "posix_local", vars={"base": "/usr"})
else:
    site = "dist-packages" if "deb_system" in schemes else "site-packages"
    path = os.path.join(prefix, "lib", "python%d.%d" % sys.version_info[:2],
                        site)
print(path)
