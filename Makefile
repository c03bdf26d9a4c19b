# The project's commands; see README.md. Needs a JDK 17+ and Maven.
MVN ?= mvn -B -q
JAR := target/tso.jar
SOURCES := pom.xml $(shell find src/main -type f 2>/dev/null)

.PHONY: build run test cluster loadtest bench soak clean

## build: the runnable jar target/tso.jar
build: $(JAR)

$(JAR): $(SOURCES)
	$(MVN) -DskipTests package

## run: one standalone node on 127.0.0.1:8080, state in ./data
run: $(JAR)
	TSO_HOST=$${TSO_HOST:-127.0.0.1} TSO_PORT=$${TSO_PORT:-8080} TSO_DATA_DIR=$${TSO_DATA_DIR:-./data} bin/tso server

## cluster: three nodes (127.0.0.1:8081-8083) and one Redis on loopback; Ctrl-C stops them
cluster: $(JAR)
	bin/cluster

## loadtest: a local node driven by the load generator (30,000 requests/s for 30 s) and its report
loadtest: $(JAR)
	loadtest/loadtest.sh

## bench: the benchmark suite (about 25 minutes); writes loadtest/results/<date>.md, .json and .hgrm
bench: $(JAR)
	python3 loadtest/bench.py

## soak: the nemesis soak: three nodes and Redis under load, random faults for DURATION (default 10m;
## SEED=n repeats a run's faults), the whole history checked; writes loadtest/results/soak-<date>.md and .json
soak: $(JAR)
	python3 loadtest/soak.py

## test: every test (unit, property, integration against real sockets and processes), then a
## 90 s nemesis soak on the jar just built (its report under target/soak)
test:
	mvn -B package
	DURATION=90s OUT=target/soak python3 loadtest/soak.py

clean:
	$(MVN) clean
