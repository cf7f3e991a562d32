import org.apache.kafka.common.record.internal.*;
import org.apache.kafka.coordinator.share.ShareCoordinatorRecordSerde;
import org.apache.kafka.coordinator.common.runtime.CoordinatorRecord;
import java.io.File;

public class DecodeSegment {
    public static void main(String[] a) throws Exception {
        ShareCoordinatorRecordSerde serde = new ShareCoordinatorRecordSerde();
        for (String path : a) {
            FileRecords records = FileRecords.open(new File(path));
            for (RecordBatch batch : records.batches()) {
                for (org.apache.kafka.common.record.internal.Record r : batch) {
                    CoordinatorRecord c = serde.deserialize(r.key(), r.hasValue() ? r.value() : null);
                    System.out.println(r.offset() + " " + c.key() + " => " + c.value());
                }
            }
        }
    }
}
