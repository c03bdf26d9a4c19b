# The project's commands; see README.md. Needs a JDK 17+ and Maven.
MVN ?= mvn -B -q
JAR := target/tso.jar
SOURCES := pom.xml $(shell find src/main -type f 2>/dev/null)

.PHONY: build run test cluster loadtest bench soak image image-tar k8s clean

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

## image: the container image (Jib: distroless Java 17, non-root, entry point `tso server`), pushed to
## IMAGE=registry/name:tag (log in to the registry first; Jib needs no Docker)
image:
	@test -n "$(IMAGE)" || { echo "make image: name the image: make image IMAGE=registry/name:tag" >&2; exit 1; }
	$(MVN) -DskipTests compile jib:build -Djib.to.image=$(IMAGE)

## image-tar: the same image as target/tso-image.tar (named IMAGE, default tso:<version> as k8s/ names it),
## for docker load, kind load image-archive or a registry push later
image-tar:
	$(MVN) -DskipTests compile jib:buildTar $(if $(IMAGE),-Djib.to.image=$(IMAGE))

## k8s: renders k8s/overlays/dev and k8s/overlays/production into target/k8s/ (kubectl kustomize, offline)
k8s:
	mkdir -p target/k8s
	kubectl kustomize k8s/overlays/dev > target/k8s/dev.yaml
	kubectl kustomize k8s/overlays/production > target/k8s/production.yaml
	@echo "rendered target/k8s/dev.yaml and target/k8s/production.yaml"

## test: every test (unit, property, integration against real sockets and processes), then a
## 90 s nemesis soak on the jar just built (its report under target/soak)
test:
	mvn -B package
	@# Passwords the tests give nodes must not show in any log the in-JVM tests wrote (the process
	@# tests check their own nodes' logs).
	@if grep -rlF -f src/test/resources/test-secrets.txt target/surefire-reports/; then \
	  echo "FAILED: a test password appears in the logs above"; exit 1; fi
	DURATION=90s OUT=target/soak python3 loadtest/soak.py

clean:
	$(MVN) clean
