// tests/proto-canon/Canon.java: the oracle of tests/proto-canon.bats. For each hex line on
// stdin, an Attribute parsed by Java's protobuf runtime from attribute.proto's code and
// written again as bazel-diff hashes it (attribute.toByteArray(), after reading its name as
// bazel-diff's sort does), in hex; "ERR" where parsing fails or a required field is
// missing (bazel-diff's Target.parseDelimitedFrom throws there).
import bds.protocanon.Build;
import com.google.protobuf.InvalidProtocolBufferException;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

public final class Canon {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
    StringBuilder out = new StringBuilder();
    String line;
    while ((line = in.readLine()) != null) {
      byte[] bytes = new byte[line.length() / 2];
      for (int i = 0; i < bytes.length; i++)
        bytes[i] = (byte) Integer.parseInt(line.substring(2 * i, 2 * i + 2), 16);
      Build.Attribute a;
      try {
        a = Build.Attribute.newBuilder().mergeFrom(bytes).buildPartial();
      } catch (InvalidProtocolBufferException e) {
        out.append("ERR\n");
        continue;
      }
      if (!a.isInitialized()) {
        out.append("ERR\n");
        continue;
      }
      a.getName();
      for (byte b : a.toByteArray())
        out.append(String.format("%02x", b & 0xff));
      out.append('\n');
    }
    System.out.print(out);
  }
}
