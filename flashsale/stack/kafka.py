"""Apache Kafka 4.x in KRaft mode (one broker+controller node), jars from Maven Central."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from flashsale.stack import _packages
from flashsale.stack._process import StackError, port_open, spawn
from flashsale.stack._service import Address, Service

JAVA_SEARCH = ("/usr/lib/jvm/java-17-openjdk-amd64/bin",)


class KafkaService(Service):
    name = "kafka"
    start_timeout = 90.0

    def __init__(self, version: str, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.version = version
        self.libs = self.dir / f"libs-{version}"
        self.logs = self.dir / "log-data"
        self.controller = Address(self.address.host, self.address.port + 1)

    async def ready(self) -> bool:
        """The broker answers a metadata request (its port opens only once unfenced)."""
        if not port_open(self.address.host, self.address.port):
            return False
        admin = AIOKafkaAdminClient(
            bootstrap_servers=str(self.address),
            request_timeout_ms=3000,
            connections_max_idle_ms=5000,
        )
        try:
            await asyncio.wait_for(admin.start(), 5)
            await asyncio.wait_for(admin.describe_cluster(), 5)
            return True
        except (TimeoutError, KafkaError, OSError):
            return False
        finally:
            await admin.close()

    def properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers={self.controller}",
                "controller.listener.names=CONTROLLER",
                f"listeners=PLAINTEXT://{self.address},CONTROLLER://{self.controller}",
                f"advertised.listeners=PLAINTEXT://{self.address}",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.logs}",
                "num.partitions=4",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "",
            ]
        )

    def fetch_jars(self) -> Path:
        """The broker's jars, fetched with Maven on first use (cached in ~/.m2 as well)."""
        if self.libs.is_dir() and any(self.libs.glob("kafka_2.13-*.jar")):
            return self.libs
        mvn = _packages.ensure("mvn", "maven")
        self.dir.mkdir(parents=True, exist_ok=True)
        pom = self.dir / "pom.xml"
        template = resources.files("flashsale.stack").joinpath("kafka-pom.xml").read_text()
        pom.write_text(template.replace("@KAFKA_VERSION@", self.version))
        partial = self.libs.with_name(self.libs.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted fetch
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={partial}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"fetching Kafka {self.version} jars with Maven failed:\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )
        partial.rename(self.libs)
        return self.libs

    def _java(self, main: str, *args: str) -> list[str]:
        java = _packages.ensure("java", "openjdk-17-jre-headless", JAVA_SEARCH)
        log_conf = self.dir / "log4j2.properties"
        return [
            java,
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            f"-Djava.io.tmpdir={self.dir / 'tmp'}",
            f"-Dlog4j2.configurationFile={log_conf}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare)
        spawn(
            self._java("kafka.Kafka", str(self.dir / "server.properties")),
            self.log,
            self.pidfile,
            env={**os.environ, "KAFKA_HEAP_OPTS": ""},
        )
        await self.wait_started()

    def _prepare(self) -> None:
        """Fetch the jars, write the configuration, format the storage once."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        self.fetch_jars()
        (self.dir / "log4j2.properties").write_text(
            resources.files("flashsale.stack").joinpath("kafka-log4j2.properties").read_text()
        )
        props = self.dir / "server.properties"
        props.write_text(self.properties())
        if not (self.logs / "meta.properties").exists():
            cluster_id = self._cluster_id()
            result = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "--ignore-formatted",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise StackError(f"formatting Kafka storage failed:\n{result.stderr[-2000:]}")

    def _cluster_id(self) -> str:
        path = self.dir / "cluster-id"
        if not path.exists():
            result = subprocess.run(
                self._java("kafka.tools.StorageTool", "random-uuid"),
                capture_output=True,
                text=True,
                check=True,
            )
            path.write_text(result.stdout.strip().splitlines()[-1])
        return path.read_text().strip()
