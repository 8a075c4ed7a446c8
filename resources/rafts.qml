<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis simplifyLocal="1" simplifyDrawingTol="1" maxScale="0" hasScaleBasedVisibilityFlag="0" styleCategories="Symbology|Fields|MapTips|Rendering" simplifyDrawingHints="1" simplifyAlgorithm="0" simplifyMaxScale="1" version="3.22.16-Białowieża" minScale="100000000" symbologyReferenceScale="-1">
  <renderer-v2 enableorderby="0" symbollevels="0" referencescale="-1" forceraster="0" type="singleSymbol">
    <symbols>
      <symbol clip_to_extent="1" force_rhr="0" type="fill" alpha="1" name="0">
        <data_defined_properties>
          <Option type="Map">
            <Option value="" type="QString" name="name"/>
            <Option name="properties"/>
            <Option value="collection" type="QString" name="type"/>
          </Option>
        </data_defined_properties>
        <layer pass="0" locked="0" enabled="1" class="SimpleFill">
          <Option type="Map">
            <Option value="3x:0,0,0,0,0,0" type="QString" name="border_width_map_unit_scale"/>
            <Option value="255,212,0,190" type="QString" name="color"/>
            <Option value="bevel" type="QString" name="joinstyle"/>
            <Option value="0,0" type="QString" name="offset"/>
            <Option value="3x:0,0,0,0,0,0" type="QString" name="offset_map_unit_scale"/>
            <Option value="MM" type="QString" name="offset_unit"/>
            <Option value="230,40,0,255" type="QString" name="outline_color"/>
            <Option value="solid" type="QString" name="outline_style"/>
            <Option value="0.5" type="QString" name="outline_width"/>
            <Option value="MM" type="QString" name="outline_width_unit"/>
            <Option value="solid" type="QString" name="style"/>
          </Option>
          <prop k="border_width_map_unit_scale" v="3x:0,0,0,0,0,0"/>
          <prop k="color" v="255,212,0,190"/>
          <prop k="joinstyle" v="bevel"/>
          <prop k="offset" v="0,0"/>
          <prop k="offset_map_unit_scale" v="3x:0,0,0,0,0,0"/>
          <prop k="offset_unit" v="MM"/>
          <prop k="outline_color" v="230,40,0,255"/>
          <prop k="outline_style" v="solid"/>
          <prop k="outline_width" v="0.5"/>
          <prop k="outline_width_unit" v="MM"/>
          <prop k="style" v="solid"/>
          <data_defined_properties>
            <Option type="Map">
              <Option value="" type="QString" name="name"/>
              <Option name="properties"/>
              <Option value="collection" type="QString" name="type"/>
            </Option>
          </data_defined_properties>
        </layer>
        <layer pass="0" locked="0" enabled="1" class="CentroidFill">
          <Option type="Map">
            <Option value="0" type="QString" name="clip_on_current_part_only"/>
            <Option value="0" type="QString" name="clip_points"/>
            <Option value="1" type="QString" name="point_on_all_parts"/>
            <Option value="1" type="QString" name="point_on_surface"/>
          </Option>
          <prop k="clip_on_current_part_only" v="0"/>
          <prop k="clip_points" v="0"/>
          <prop k="point_on_all_parts" v="1"/>
          <prop k="point_on_surface" v="1"/>
          <data_defined_properties>
            <Option type="Map">
              <Option value="" type="QString" name="name"/>
              <Option type="Map" name="properties">
                <Option type="Map" name="enabled">
                  <Option value="true" type="bool" name="active"/>
                  <Option value="@map_scale > 100000" type="QString" name="expression"/>
                  <Option value="3" type="int" name="type"/>
                </Option>
              </Option>
              <Option value="collection" type="QString" name="type"/>
            </Option>
          </data_defined_properties>
          <symbol clip_to_extent="1" force_rhr="0" type="marker" alpha="1" name="@0@1">
            <data_defined_properties>
              <Option type="Map">
                <Option value="" type="QString" name="name"/>
                <Option name="properties"/>
                <Option value="collection" type="QString" name="type"/>
              </Option>
            </data_defined_properties>
            <layer pass="0" locked="0" enabled="1" class="SimpleMarker">
              <Option type="Map">
                <Option value="0" type="QString" name="angle"/>
                <Option value="square" type="QString" name="cap_style"/>
                <Option value="255,212,0,230" type="QString" name="color"/>
                <Option value="1" type="QString" name="horizontal_anchor_point"/>
                <Option value="bevel" type="QString" name="joinstyle"/>
                <Option value="circle" type="QString" name="name"/>
                <Option value="0,0" type="QString" name="offset"/>
                <Option value="3x:0,0,0,0,0,0" type="QString" name="offset_map_unit_scale"/>
                <Option value="MM" type="QString" name="offset_unit"/>
                <Option value="230,40,0,255" type="QString" name="outline_color"/>
                <Option value="solid" type="QString" name="outline_style"/>
                <Option value="0.4" type="QString" name="outline_width"/>
                <Option value="3x:0,0,0,0,0,0" type="QString" name="outline_width_map_unit_scale"/>
                <Option value="MM" type="QString" name="outline_width_unit"/>
                <Option value="diameter" type="QString" name="scale_method"/>
                <Option value="1.8" type="QString" name="size"/>
                <Option value="3x:0,0,0,0,0,0" type="QString" name="size_map_unit_scale"/>
                <Option value="MM" type="QString" name="size_unit"/>
                <Option value="1" type="QString" name="vertical_anchor_point"/>
              </Option>
              <prop k="angle" v="0"/>
              <prop k="cap_style" v="square"/>
              <prop k="color" v="255,212,0,230"/>
              <prop k="horizontal_anchor_point" v="1"/>
              <prop k="joinstyle" v="bevel"/>
              <prop k="name" v="circle"/>
              <prop k="offset" v="0,0"/>
              <prop k="offset_map_unit_scale" v="3x:0,0,0,0,0,0"/>
              <prop k="offset_unit" v="MM"/>
              <prop k="outline_color" v="230,40,0,255"/>
              <prop k="outline_style" v="solid"/>
              <prop k="outline_width" v="0.4"/>
              <prop k="outline_width_map_unit_scale" v="3x:0,0,0,0,0,0"/>
              <prop k="outline_width_unit" v="MM"/>
              <prop k="scale_method" v="diameter"/>
              <prop k="size" v="1.8"/>
              <prop k="size_map_unit_scale" v="3x:0,0,0,0,0,0"/>
              <prop k="size_unit" v="MM"/>
              <prop k="vertical_anchor_point" v="1"/>
              <data_defined_properties>
                <Option type="Map">
                  <Option value="" type="QString" name="name"/>
                  <Option name="properties"/>
                  <Option value="collection" type="QString" name="type"/>
                </Option>
              </data_defined_properties>
            </layer>
          </symbol>
        </layer>
      </symbol>
    </symbols>
    <rotation/>
    <sizescale/>
  </renderer-v2>
  <blendMode>0</blendMode>
  <featureBlendMode>0</featureBlendMode>
  <layerOpacity>1</layerOpacity>
  <fieldConfiguration>
    <field configurationFlags="None" name="fid"/>
    <field configurationFlags="None" name="id"/>
    <field configurationFlags="None" name="area_m2"/>
    <field configurationFlags="None" name="length_m"/>
    <field configurationFlags="None" name="prob_mean"/>
    <field configurationFlags="None" name="prob_max"/>
    <field configurationFlags="None" name="lon"/>
    <field configurationFlags="None" name="lat"/>
    <field configurationFlags="None" name="acq_date"/>
    <field configurationFlags="None" name="sensor"/>
    <field configurationFlags="None" name="product"/>
    <field configurationFlags="None" name="model"/>
    <field configurationFlags="None" name="model_ver"/>
  </fieldConfiguration>
  <aliases>
    <alias index="0" field="fid" name=""/>
    <alias index="1" field="id" name="Raft"/>
    <alias index="2" field="area_m2" name="Area (m²)"/>
    <alias index="3" field="length_m" name="Length (m)"/>
    <alias index="4" field="prob_mean" name="Mean probability"/>
    <alias index="5" field="prob_max" name="Max probability"/>
    <alias index="6" field="lon" name="Longitude"/>
    <alias index="7" field="lat" name="Latitude"/>
    <alias index="8" field="acq_date" name="Acquisition date"/>
    <alias index="9" field="sensor" name="Sensor"/>
    <alias index="10" field="product" name="Product"/>
    <alias index="11" field="model" name="Model"/>
    <alias index="12" field="model_ver" name="Model version"/>
  </aliases>
  <defaults>
    <default applyOnUpdate="0" field="fid" expression=""/>
    <default applyOnUpdate="0" field="id" expression=""/>
    <default applyOnUpdate="0" field="area_m2" expression=""/>
    <default applyOnUpdate="0" field="length_m" expression=""/>
    <default applyOnUpdate="0" field="prob_mean" expression=""/>
    <default applyOnUpdate="0" field="prob_max" expression=""/>
    <default applyOnUpdate="0" field="lon" expression=""/>
    <default applyOnUpdate="0" field="lat" expression=""/>
    <default applyOnUpdate="0" field="acq_date" expression=""/>
    <default applyOnUpdate="0" field="sensor" expression=""/>
    <default applyOnUpdate="0" field="product" expression=""/>
    <default applyOnUpdate="0" field="model" expression=""/>
    <default applyOnUpdate="0" field="model_ver" expression=""/>
  </defaults>
  <constraints>
    <constraint unique_strength="1" field="fid" notnull_strength="1" exp_strength="0" constraints="3"/>
    <constraint unique_strength="0" field="id" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="area_m2" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="length_m" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="prob_mean" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="prob_max" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="lon" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="lat" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="acq_date" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="sensor" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="product" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="model" notnull_strength="0" exp_strength="0" constraints="0"/>
    <constraint unique_strength="0" field="model_ver" notnull_strength="0" exp_strength="0" constraints="0"/>
  </constraints>
  <constraintExpressions>
    <constraint desc="" exp="" field="fid"/>
    <constraint desc="" exp="" field="id"/>
    <constraint desc="" exp="" field="area_m2"/>
    <constraint desc="" exp="" field="length_m"/>
    <constraint desc="" exp="" field="prob_mean"/>
    <constraint desc="" exp="" field="prob_max"/>
    <constraint desc="" exp="" field="lon"/>
    <constraint desc="" exp="" field="lat"/>
    <constraint desc="" exp="" field="acq_date"/>
    <constraint desc="" exp="" field="sensor"/>
    <constraint desc="" exp="" field="product"/>
    <constraint desc="" exp="" field="model"/>
    <constraint desc="" exp="" field="model_ver"/>
  </constraintExpressions>
  <expressionfields/>
  <mapTip>&lt;b>Sargassum raft [% "id" %]&lt;/b>&lt;br>[% round("area_m2") %] m², [% round("length_m") %] m long&lt;br>probability [% round("prob_mean", 2) %] (max [% round("prob_max", 2) %])&lt;br>[% "acq_date" %] [% "sensor" %]</mapTip>
  <layerGeometryType>2</layerGeometryType>
</qgis>
