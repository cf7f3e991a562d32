import org.apache.kafka.common.protocol.types.*;
public class DumpLayout {
 static String kind(Type t){ if (t instanceof Schema) return "STRUCT"; if (t.arrayElementType().isPresent()) { Type e=t.arrayElementType().get(); return "ARRAY<"+(e instanceof Schema?"STRUCT":e.toString())+">";} return t.toString().replace("COMPACT_NULLABLE_","").replace("COMPACT_",""); }
 static void dump(Schema s, String p) { for (BoundField f : s.fields()) { Type ft=f.def.type; if (ft instanceof TaggedFields) { System.out.println(p+"<tagged> "+ft.toString().replaceAll(" -> [^,)]*", "")); continue; } System.out.println(p+f.def.name+" "+kind(ft)+" "+ft.isNullable()); if (ft instanceof Schema) dump((Schema)ft, p+f.def.name+"."); Type e=ft.arrayElementType().orElse(null); if (e instanceof Schema) dump((Schema)e, p+f.def.name+"[]."); } }
 public static void main(String[] a) throws Exception {
 for (String n : a) { Class<?> c = Class.forName(n.contains(".") ? n : "org.apache.kafka.common.message."+n); Schema[] s=(Schema[])c.getField("SCHEMAS").get(null); for (int i=0;i<s.length;i++) { System.out.println("=== v"+i); if (s[i]!=null) dump(s[i], "");} }
}}
