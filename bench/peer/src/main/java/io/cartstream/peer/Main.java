package io.cartstream.peer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer of `make bench`: the AddItemManager's job on the
 * same records (docs/benchmarks.md, "The peer: Kafka Streams with
 * exactly_once_v2"). Every setting is a flag (--name value) or the
 * environment variable PEER_NAME; everything else is Kafka Streams'
 * default. Prints "PEER RUNNING" on stdout when the application first
 * reaches RUNNING, and "PEER STATS ..." when it stops on SIGTERM (and
 * every --stats-interval-ms if set).
 */
public final class Main {
    private Main() {}

    // compression: the manager's transactional producers default to lz4
    // (validation.ProducerDefaults); the peer's producer does the same, so
    // both write the same bytes.
    private static final Map<String, String> DEFAULTS = Map.ofEntries(
            Map.entry("bootstrap", "127.0.0.1:9092"),
            Map.entry("application-id", "cartstream-peer"),
            Map.entry("requests", "cart.requests"),
            Map.entry("catalog", "catalog.products"),
            Map.entry("validated", "cart.validated"),
            Map.entry("invalid", "cart.invalid"),
            Map.entry("commit-interval-ms", "100"),
            Map.entry("schemas", "internal/records/schemas"),
            Map.entry("store", "memory"),
            Map.entry("stats-interval-ms", "0"),
            Map.entry("compression", "lz4"));

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = options(args);
        Path schemas = Path.of(opt.get("schemas"));
        if (!Files.isDirectory(schemas)) {
            System.err.println("peer: schema directory " + schemas + " not found (--schemas)");
            System.exit(2);
        }
        new Records(schemas); // fail at start, not in a task, on a bad schema directory
        KafkaStreams streams = new KafkaStreams(topology(opt, schemas), properties(opt));
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean announced = new AtomicBoolean();
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING && announced.compareAndSet(false, true)) {
                System.out.println("PEER RUNNING");
                System.out.flush();
            }
            if (now == KafkaStreams.State.ERROR) {
                System.out.println("PEER ERROR");
                System.out.flush();
                stopped.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("peer: stream thread failed: " + e);
            e.printStackTrace();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "peer-stats");
            t.setDaemon(true);
            return t;
        });
        Thread hook = new Thread(() -> {
            // The last line must be the one before close: close removes the
            // metrics, and a later tick would report zero commits.
            ticker.shutdownNow();
            try {
                ticker.awaitTermination(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            printStats(streams);
            streams.close(Duration.ofSeconds(30));
            stopped.countDown();
        }, "peer-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        streams.start();
        long every = Long.parseLong(opt.get("stats-interval-ms"));
        if (every > 0) {
            ticker.scheduleAtFixedRate(() -> printStats(streams), every, every, TimeUnit.MILLISECONDS);
        }
        stopped.await();
        if (streams.state() == KafkaStreams.State.ERROR || streams.state() == KafkaStreams.State.PENDING_ERROR) {
            System.exit(1); // runs the hook, which closes the client
        }
    }

    /** --name value, --name=value, else PEER_NAME from the environment, else the default. */
    static Map<String, String> options(String[] args) {
        Map<String, String> opt = new HashMap<>();
        for (Map.Entry<String, String> d : DEFAULTS.entrySet()) {
            String env = System.getenv("PEER_" + d.getKey().toUpperCase(Locale.ROOT).replace('-', '_'));
            opt.put(d.getKey(), env != null && !env.isEmpty() ? env : d.getValue());
        }
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + a);
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("flag --" + name + " needs a value");
            }
            if (!DEFAULTS.containsKey(name)) {
                throw new IllegalArgumentException("unknown flag --" + name + "; known: " + DEFAULTS.keySet());
            }
            opt.put(name, value);
        }
        return opt;
    }

    static Properties properties(Map<String, String> opt) throws Exception {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, opt.get("application-id"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, opt.get("bootstrap"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Integer.parseInt(opt.get("commit-interval-ms")));
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("cartstream-peer-").toString());
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        p.put(StreamsConfig.producerPrefix("compression.type"), opt.get("compression"));
        return p;
    }

    /**
     * requests -> carts processor (state store "carts", the global store
     * "catalog") -> validated | invalid. The catalog is a global store over
     * the catalog topic, as a GlobalKTable is: every instance holds all of
     * it, restored before processing starts.
     */
    static Topology topology(Map<String, String> opt, Path schemas) {
        KeyValueBytesStoreSupplier cartStore = switch (opt.get("store")) {
            case "memory" -> Stores.inMemoryKeyValueStore(CartProcessor.CARTS);
            case "rocksdb" -> Stores.persistentKeyValueStore(CartProcessor.CARTS);
            default -> throw new IllegalArgumentException("--store: want memory or rocksdb, got " + opt.get("store"));
        };
        Topology t = new Topology();
        t.addGlobalStore(
                Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(CartProcessor.CATALOG), Serdes.String(), Serdes.ByteArray())
                        .withLoggingDisabled(),
                "catalog-source", new StringDeserializer(), new ByteArrayDeserializer(), opt.get("catalog"),
                "catalog-update", CatalogUpdate::new);
        t.addSource("requests", new ByteArrayDeserializer(), new ByteArrayDeserializer(), opt.get("requests"));
        t.addProcessor("carts", () -> new CartProcessor(schemas), "requests");
        // Caching on, as for a DSL store: a cart's snapshot goes to the
        // changelog once per commit, as the manager writes it once per batch.
        t.addStateStore(Stores.keyValueStoreBuilder(cartStore, Serdes.String(), Serdes.ByteArray()).withCachingEnabled(), "carts");
        t.addSink(CartProcessor.VALIDATED_SINK, opt.get("validated"), new ByteArraySerializer(), new ByteArraySerializer(), "carts");
        t.addSink(CartProcessor.INVALID_SINK, opt.get("invalid"), new ByteArraySerializer(), new ByteArraySerializer(), "carts");
        return t;
    }

    /** Keeps the global catalog store equal to the topic: put, or delete on a tombstone. */
    static final class CatalogUpdate implements Processor<String, byte[], Void, Void> {
        private KeyValueStore<String, byte[]> store;

        @Override
        public void init(ProcessorContext<Void, Void> context) {
            store = context.getStateStore(CartProcessor.CATALOG);
        }

        @Override
        public void process(Record<String, byte[]> r) {
            if (r.value() == null) {
                store.delete(r.key());
            } else {
                store.put(r.key(), r.value());
            }
        }
    }

    /** One line the bench parses: the transactions (commits) and the outcomes. */
    private static synchronized void printStats(KafkaStreams streams) {
        double commits = 0;
        for (Map.Entry<?, ? extends Metric> m : streams.metrics().entrySet()) {
            Metric metric = m.getValue();
            if (metric.metricName().name().equals("commit-total") && metric.metricName().group().equals("stream-thread-metrics")) {
                commits += ((Number) metric.metricValue()).doubleValue();
            }
        }
        System.out.printf(Locale.ROOT, "PEER STATS commits=%d accepted=%d rejected=%d duplicates=%d stale=%d malformed=%d%n",
                (long) commits, CartProcessor.ACCEPTED.get(), CartProcessor.REJECTED.get(), CartProcessor.DUPLICATES.get(),
                CartProcessor.STALE.get(), CartProcessor.MALFORMED.get());
        System.out.flush();
    }
}
