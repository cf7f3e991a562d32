import org.apache.kafka.coordinator.group.generated.*;
import org.apache.kafka.common.protocol.*;
import java.nio.ByteBuffer;
import java.util.*;
// StreamsGroup* coordinator records as Kafka 4.4 frames them in __consumer_offsets
// (CoordinatorRecordSerde): key = int16 record type + key v0, value = int16 0 + value v0.
public class EncodeRecordVectors {
 static String hex(short prefix, Message m) { ObjectSerializationCache c = new ObjectSerializationCache(); int n = m.size(c, (short)0); ByteBuffer b = ByteBuffer.allocate(n + 2); b.putShort(prefix); m.write(new ByteBufferAccessor(b), c, (short)0); StringBuilder s=new StringBuilder(); for (byte x: b.array()) s.append(String.format("%02x", x)); return s.toString(); }
 static void rec(String name, short type, Message key, Message value) { System.out.println(name+"_key="+hex(type, key)); if (value != null) System.out.println(name+"_value="+hex((short)0, value)); }
 public static void main(String[] a) {
  rec("metadata", (short)17, new StreamsGroupMetadataKey().setGroupId("wc"), new StreamsGroupMetadataValue().setEpoch(5).setMetadataHash(-42L));
  rec("member", (short)19, new StreamsGroupMemberMetadataKey().setGroupId("wc").setMemberId("m-1"),
    new StreamsGroupMemberMetadataValue().setInstanceId(null).setRackId("r1").setClientId("c").setClientHost("/127.0.0.1").setRebalanceTimeoutMs(30000).setTopologyEpoch(1).setProcessId("p-1")
      .setUserEndpoint(new StreamsGroupMemberMetadataValue.Endpoint().setHost("localhost").setPort(8080)).setClientTags(List.of(new StreamsGroupMemberMetadataValue.KeyValue().setKey("az").setValue("a"))));
  rec("target_epoch", (short)20, new StreamsGroupTargetAssignmentMetadataKey().setGroupId("wc"), new StreamsGroupTargetAssignmentMetadataValue().setAssignmentEpoch(5));
  rec("target", (short)21, new StreamsGroupTargetAssignmentMemberKey().setGroupId("wc").setMemberId("m-1"),
    new StreamsGroupTargetAssignmentMemberValue().setActiveTasks(List.of(new StreamsGroupTargetAssignmentMemberValue.TaskIds().setSubtopologyId("0").setPartitions(List.of(0, 2)))).setStandbyTasks(List.of()).setWarmupTasks(List.of()));
  rec("current", (short)22, new StreamsGroupCurrentMemberAssignmentKey().setGroupId("wc").setMemberId("m-1"),
    new StreamsGroupCurrentMemberAssignmentValue().setMemberEpoch(5).setPreviousMemberEpoch(4).setState((byte)1)
      .setActiveTasks(List.of(new StreamsGroupCurrentMemberAssignmentValue.TaskIds().setSubtopologyId("0").setPartitions(List.of(0))))
      .setStandbyTasks(List.of()).setWarmupTasks(List.of())
      .setActiveTasksPendingRevocation(List.of(new StreamsGroupCurrentMemberAssignmentValue.TaskIds().setSubtopologyId("1").setPartitions(List.of(3))))
      .setStandbyTasksPendingRevocation(List.of()).setWarmupTasksPendingRevocation(List.of()));
  // With KIP-1251 assignment epochs (a tagged field Gregor reads past).
  rec("current_epochs", (short)22, new StreamsGroupCurrentMemberAssignmentKey().setGroupId("wc").setMemberId("m-1"),
    new StreamsGroupCurrentMemberAssignmentValue().setMemberEpoch(5).setPreviousMemberEpoch(4).setState((byte)0)
      .setActiveTasks(List.of(new StreamsGroupCurrentMemberAssignmentValue.TaskIds().setSubtopologyId("0").setPartitions(List.of(0)).setAssignmentEpochs(List.of(3))))
      .setStandbyTasks(List.of()).setWarmupTasks(List.of()).setActiveTasksPendingRevocation(List.of()).setStandbyTasksPendingRevocation(List.of()).setWarmupTasksPendingRevocation(List.of()));
  rec("topology", (short)23, new StreamsGroupTopologyKey().setGroupId("wc"),
    new StreamsGroupTopologyValue().setEpoch(1).setSubtopologies(List.of(new StreamsGroupTopologyValue.Subtopology().setSubtopologyId("0").setSourceTopics(List.of("input"))
      .setSourceTopicRegex(List.of()).setRepartitionSinkTopics(List.of("wc-repartition"))
      .setStateChangelogTopics(List.of(new StreamsGroupTopologyValue.TopicInfo().setName("wc-changelog").setPartitions(0).setReplicationFactor((short)0).setTopicConfigs(List.of(new StreamsGroupTopologyValue.TopicConfig().setKey("cleanup.policy").setValue("compact")))))
      .setRepartitionSourceTopics(List.of()).setCopartitionGroups(List.of()))));
  rec("tombstone", (short)22, new StreamsGroupCurrentMemberAssignmentKey().setGroupId("wc").setMemberId("m-1"), null);
 }}
