import org.apache.kafka.coordinator.share.PersisterStateBatchCombiner;
import org.apache.kafka.server.share.persister.PersisterStateBatch;
import java.util.*;

public class CombineVectors {
    static String fmt(List<PersisterStateBatch> l) {
        StringBuilder sb = new StringBuilder();
        for (PersisterStateBatch b : l) {
            if (sb.length() > 0) sb.append(' ');
            sb.append(b.firstOffset()).append('-').append(b.lastOffset()).append('/').append(b.deliveryState()).append('/').append(b.deliveryCount());
        }
        return sb.toString();
    }
    static List<PersisterStateBatch> gen(Random r, int n) {
        List<PersisterStateBatch> l = new ArrayList<>();
        byte[] states = {0, 2, 4};
        for (int i = 0; i < n; i++) {
            long f = r.nextInt(40);
            long last = f + r.nextInt(12);
            l.add(new PersisterStateBatch(f, last, states[r.nextInt(3)], (short) (1 + r.nextInt(3))));
        }
        return l;
    }
    public static void main(String[] a) {
        Random r = new Random(932);
        for (int i = 0; i < 2000; i++) {
            // stored batches are themselves a combined (non-overlapping) list
            List<PersisterStateBatch> soFar = new PersisterStateBatchCombiner(gen(r, r.nextInt(5)), List.of(), -1).combineStateBatches();
            List<PersisterStateBatch> nw = gen(r, r.nextInt(5));
            long start = r.nextInt(4) == 0 ? -1 : r.nextInt(30);
            List<PersisterStateBatch> out = new PersisterStateBatchCombiner(soFar, nw, start).combineStateBatches();
            System.out.println(fmt(soFar) + " | " + fmt(nw) + " | " + start + " | " + fmt(out));
        }
    }
}
