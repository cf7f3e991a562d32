import org.apache.kafka.common.message.*;
import org.apache.kafka.common.protocol.*;
import java.nio.ByteBuffer;
import java.util.*;
public class EncodeVectors {
 static String hex(Message m, short v) { ObjectSerializationCache c = new ObjectSerializationCache(); int n = m.size(c, v); ByteBuffer b = ByteBuffer.allocate(n); m.write(new ByteBufferAccessor(b), c, v); StringBuilder s=new StringBuilder(); for (byte x: b.array()) s.append(String.format("%02x", x)); return s.toString(); }
 public static void main(String[] a) {
  StreamsGroupHeartbeatRequestData req = new StreamsGroupHeartbeatRequestData().setGroupId("wordcount").setMemberId("m-1").setMemberEpoch(0).setEndpointInformationEpoch(-1).setRackId(null).setRebalanceTimeoutMs(300000)
   .setTopology(new StreamsGroupHeartbeatRequestData.Topology().setEpoch(1).setSubtopologies(List.of(new StreamsGroupHeartbeatRequestData.Subtopology().setSubtopologyId("0").setSourceTopics(List.of("input")).setRepartitionSinkTopics(List.of("wc-repartition"))
     .setStateChangelogTopics(List.of(new StreamsGroupHeartbeatRequestData.TopicInfo().setName("wc-changelog").setPartitions(0).setReplicationFactor((short)0).setTopicConfigs(List.of(new StreamsGroupHeartbeatRequestData.KeyValue().setKey("cleanup.policy").setValue("compact")))))
     .setCopartitionGroups(List.of(new StreamsGroupHeartbeatRequestData.CopartitionGroup().setSourceTopics(List.of((short)0)))))))
   .setActiveTasks(List.of(new StreamsGroupHeartbeatRequestData.TaskIds().setSubtopologyId("0").setPartitions(List.of(0,1)))).setStandbyTasks(List.of()).setWarmupTasks(List.of())
   .setProcessId("p-1").setUserEndpoint(new StreamsGroupHeartbeatRequestData.Endpoint().setHost("localhost").setPort(8080)).setClientTags(List.of()).setShutdownApplication(false);
  for (short v=0; v<=1; v++) System.out.println("hb_req_v"+v+"="+hex(req, v));
  StreamsGroupHeartbeatResponseData resp = new StreamsGroupHeartbeatResponseData().setErrorCode((short)0).setMemberId("m-1").setMemberEpoch(3).setHeartbeatIntervalMs(5000).setAcceptableRecoveryLag(10000).setAcceptableRecoveryLagLegacy(10000).setTaskOffsetIntervalMs(60000)
   .setStatus(List.of(new StreamsGroupHeartbeatResponseData.Status().setStatusCode((byte)3).setStatusDetail("missing"))).setActiveTasks(List.of(new StreamsGroupHeartbeatResponseData.TaskIds().setSubtopologyId("1").setPartitions(List.of(2)))).setStandbyTasks(List.of()).setWarmupTasks(null).setEndpointInformationEpoch(2);
  System.out.println("hb_resp_v0="+hex(resp, (short)0)); resp.setAcceptableRecoveryLagLegacy(0); System.out.println("hb_resp_v1="+hex(resp, (short)1));
  StreamsGroupDescribeRequestData dreq = new StreamsGroupDescribeRequestData().setGroupIds(List.of("wordcount")).setIncludeAuthorizedOperations(true);
  for (short v=0; v<=1; v++) System.out.println("desc_req_v"+v+"="+hex(dreq, v));
  StreamsGroupDescribeResponseData.DescribedGroup g = new StreamsGroupDescribeResponseData.DescribedGroup().setGroupId("wordcount").setGroupState("Stable").setGroupEpoch(4).setAssignmentEpoch(4)
    .setTopology(new StreamsGroupDescribeResponseData.Topology().setEpoch(1).setSubtopologies(List.of(new StreamsGroupDescribeResponseData.Subtopology().setSubtopologyId("0").setSourceTopics(List.of("input")))))
    .setMembers(List.of(new StreamsGroupDescribeResponseData.Member().setMemberId("m-1").setMemberEpoch(4).setClientId("c").setClientHost("/127.0.0.1").setTopologyEpoch(1).setProcessId("p-1")
       .setAssignment(new StreamsGroupDescribeResponseData.Assignment().setActiveTasks(List.of(new StreamsGroupDescribeResponseData.TaskIds().setSubtopologyId("0").setPartitions(List.of(0)))))
       .setTargetAssignment(new StreamsGroupDescribeResponseData.Assignment())));
  StreamsGroupDescribeResponseData dresp = new StreamsGroupDescribeResponseData().setGroups(List.of(g));
  for (short v=0; v<=1; v++) System.out.println("desc_resp_v"+v+"="+hex(dresp, v));
 }}
