"""Command lines for the short-lived JVMs of the suite: Kafka's CLI tools and the
Java client driver (CompatClient, SecClient).

Hundreds of them start in one run, each for a second or two, on a 2-core machine
shared with the brokers under test. Three settings cut the CPU each one burns
starting up (about 2.1 s -> 0.6 s for a kafka-topics --describe):
  - only the first JIT tier (C1) and the serial GC: the code runs too briefly for C2
    or G1's concurrent threads to pay off;
  - an AppCDS archive of the classes such a run loads (scripts/compat-deps.sh makes
    one per classpath, from training runs): they are mapped instead of parsed and
    verified. It is used only while its stamp matches the classpath it was made
    from; the JVM would otherwise print a warning on stdout, where tests parse.
The clients behave exactly as with the defaults; only start-up gets cheaper.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPS = ROOT / "target" / "compat-deps"

# kafka-clients 4.x with the suite's drivers (compat/java/*.java), packed in a jar
# because class-data sharing takes no classes from directories.
CLIENTS_CP = f"{DEPS / 'java' / 'compat-clients.jar'}:{DEPS / 'java' / 'libs'}/*"
# Apache Kafka's own CLI tools (kafka-topics, kafka-configs, ...), 4.4.
TOOLS_CP = f"{DEPS / 'kafka-tools' / 'libs'}/*"

QUICK = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
_ARCHIVES = {CLIENTS_CP: "clients", TOOLS_CP: "tools"}


def archive_flags(classpath):
    """-XX:SharedArchiveFile for `classpath` when compat-deps made a current one."""
    name = _ARCHIVES.get(classpath)
    if name is None:
        return []
    archive = DEPS / "cds" / f"{name}.jsa"
    stamp = DEPS / "cds" / f"{name}.classpath"
    try:
        if stamp.read_text().strip() != classpath or not archive.exists():
            return []
    except OSError:
        return []
    return [f"-XX:SharedArchiveFile={archive}", "-Xlog:cds*=off"]


def java_cmd(classpath, main_class, *args, jvm=()):
    """`java` running `main_class` from `classpath` with quick start-up flags;
    `jvm` adds JVM options (a heap cap, system properties)."""
    return ["java", *QUICK, *archive_flags(classpath), *jvm, "-cp", classpath, main_class, *map(str, args)]


def client_cmd(*args, jvm=()):
    """The Java client driver: CompatClient ARGS..."""
    return java_cmd(CLIENTS_CP, "CompatClient", *args, jvm=jvm)


def tool_cmd(main_class, *args, jvm=()):
    """One of Kafka's CLI tools by its class under org.apache.kafka.tools."""
    return java_cmd(TOOLS_CP, f"org.apache.kafka.tools.{main_class}", *args, jvm=jvm)
