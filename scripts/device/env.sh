# Sourced on the device machine after scripts/device/build.sh: the unpacked libraries'
# folder on the loader's path, so the test and benchmark programs start.
lib=/tmp/deproot/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$lib/openblas-pthread:$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
