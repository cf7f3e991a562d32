import org.apache.kafka.coordinator.share.*;
import org.apache.kafka.coordinator.share.generated.*;
import org.apache.kafka.coordinator.common.runtime.CoordinatorRecord;
import org.apache.kafka.server.common.ApiMessageAndVersion;
import org.apache.kafka.common.Uuid;
import java.util.*;

public class RecordVectors {
    static String hex(byte[] b) { StringBuilder s = new StringBuilder(); for (byte x : b) s.append(String.format("%02x", x)); return s.toString(); }
    public static void main(String[] a) {
        ShareCoordinatorRecordSerde serde = new ShareCoordinatorRecordSerde();
        Uuid t = new Uuid(0x0102030405060708L, 0x090a0b0c0d0e0f10L);
        CoordinatorRecord snap = CoordinatorRecord.record(
            new ShareSnapshotKey().setGroupId("g1").setTopicId(t).setPartition(3),
            new ApiMessageAndVersion(new ShareSnapshotValue().setSnapshotEpoch(2).setStateEpoch(1).setLeaderEpoch(5)
                .setStartOffset(100).setDeliveryCompleteCount(7).setCreateTimestamp(1700000000000L).setWriteTimestamp(1700000000123L)
                .setStateBatches(List.of(new ShareSnapshotValue.StateBatch().setFirstOffset(100).setLastOffset(109).setDeliveryState((byte) 2).setDeliveryCount((short) 1),
                    new ShareSnapshotValue.StateBatch().setFirstOffset(110).setLastOffset(110).setDeliveryState((byte) 0).setDeliveryCount((short) 3))), (short) 0));
        CoordinatorRecord snapNoCount = CoordinatorRecord.record(
            new ShareSnapshotKey().setGroupId("g1").setTopicId(t).setPartition(3),
            new ApiMessageAndVersion(new ShareSnapshotValue().setSnapshotEpoch(0).setStateEpoch(0).setLeaderEpoch(0)
                .setStartOffset(-1).setCreateTimestamp(5).setWriteTimestamp(5).setStateBatches(List.of()), (short) 0));
        CoordinatorRecord upd = CoordinatorRecord.record(
            new ShareUpdateKey().setGroupId("group-é").setTopicId(t).setPartition(0),
            new ApiMessageAndVersion(new ShareUpdateValue().setSnapshotEpoch(2).setLeaderEpoch(6).setStartOffset(111).setDeliveryCompleteCount(0)
                .setStateBatches(List.of(new ShareUpdateValue.StateBatch().setFirstOffset(111).setLastOffset(120).setDeliveryState((byte) 4).setDeliveryCount((short) 5))), (short) 0));
        CoordinatorRecord tomb = CoordinatorRecord.tombstone(new ShareSnapshotKey().setGroupId("g1").setTopicId(t).setPartition(3));
        for (CoordinatorRecord r : List.of(snap, snapNoCount, upd, tomb)) {
            byte[] v = serde.serializeValue(r);
            System.out.println(hex(serde.serializeKey(r)) + " " + (v == null ? "-" : hex(v)));
        }
    }
}
